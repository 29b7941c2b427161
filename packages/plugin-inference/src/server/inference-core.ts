import { InferenceError, invalid } from '../errors/inference-error.js';
import type { ModelIndexEntry, ModelManager } from '../repository/model-manager.js';
import type { ModelVersion } from '../runtime/model-version.js';
import {
  EXTENSIONS,
  modelMetadata,
  modelStatistics,
  type ModelMetadata,
  type ModelStatistics,
  type ServerMetadata,
} from './protocol-objects.js';

/**
 * What every frontend (HTTP, gRPC) asks of the server, in protocol terms: health, metadata, the
 * version serving a request, statistics and repository control.
 */
export class InferenceCore {
  private closing = false;

  constructor(
    readonly manager: ModelManager,
    private readonly identity: { name: string; version: string },
  ) {}

  /** Live until shutdown completes. */
  get live(): boolean {
    return true;
  }

  /** Ready when every wanted model is, and not shutting down. */
  get ready(): boolean {
    return !this.closing && this.manager.ready;
  }

  /** Marks the server as shutting down (readiness flips at once). */
  beginShutdown(): void {
    this.closing = true;
  }

  serverMetadata(): ServerMetadata {
    return { name: this.identity.name, version: this.identity.version, extensions: [...EXTENSIONS] };
  }

  resolve(name: string, version?: string): ModelVersion {
    return this.manager.resolve(name, version);
  }

  modelMetadata(name: string, version?: string): ModelMetadata {
    const target = this.manager.resolve(name, version);
    const loaded = this.manager
      .loadedVersions()
      .filter((candidate) => candidate.name === name)
      .map((candidate) => candidate.version);
    return modelMetadata(target, loaded);
  }

  /** Statistics of every loaded version, of one model, or of one version. */
  statistics(name?: string, version?: string): ModelStatistics[] {
    if (name === undefined) return this.manager.loadedVersions().map(modelStatistics);
    if (version !== undefined) return [modelStatistics(this.manager.resolve(name, version))];
    const versions = this.manager.loadedVersions().filter((candidate) => candidate.name === name);
    if (versions.length === 0) this.manager.resolve(name);
    return versions.map(modelStatistics);
  }

  repositoryIndex(readyOnly: boolean): Promise<ModelIndexEntry[]> {
    return this.manager.index(readyOnly);
  }

  /** `POST …/load`: `parameters.config` (JSON text) overrides the configuration on disk. */
  async loadModel(name: string, parameters: unknown): Promise<void> {
    this.requireExplicit('load');
    const params = this.parameters(parameters);
    const config = params.config;
    if (config !== undefined && typeof config !== 'string')
      throw invalid('parameters.config must be a string holding the configuration as JSON');
    const fileKey = Object.keys(params).find((key) => key.startsWith('file:'));
    if (fileKey) {
      throw new InferenceError(
        'INFERENCE_UNSUPPORTED',
        `load parameter "${fileKey}": model files in the request are not supported; put them in the repository`,
      );
    }
    await this.manager.load(name, config === undefined ? undefined : { config });
  }

  async unloadModel(name: string, parameters: unknown): Promise<void> {
    this.requireExplicit('unload');
    const params = this.parameters(parameters);
    if (params.unload_dependents !== undefined && typeof params.unload_dependents !== 'boolean') {
      throw invalid('parameters.unload_dependents must be true or false');
    }
    await this.manager.unload(name);
  }

  private requireExplicit(what: string): void {
    if (this.manager.controlMode !== 'explicit') {
      throw invalid(
        `explicit model ${what} is not allowed: the server runs in model control mode "${this.manager.controlMode}"`,
      );
    }
  }

  private parameters(value: unknown): Record<string, unknown> {
    if (value === undefined) return {};
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw invalid('"parameters" must be an object');
    return value as Record<string, unknown>;
  }
}
