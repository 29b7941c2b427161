import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Lease, ResourcePool } from '@beamline/core';
import { InferenceError, isInferenceError } from '../errors/inference-error.js';
import {
  completeModelConfig,
  type InstanceGroup,
  type ModelConfig,
  type PartialModelConfig,
} from '../model/model-config.js';
import { ModelVersion } from '../runtime/model-version.js';
import { InlineSession } from '../runtime/inline-session.js';
import {
  SessionWorker,
  type LoadedSession,
  type ProviderSpec,
  type SessionRunner,
} from '../runtime/session-worker.js';
import {
  fingerprintModel,
  isModelName,
  listModels,
  listVersions,
  readModelConfig,
  selectVersions,
} from './model-files.js';

/** How models get loaded: all at start (`none`), on request (`explicit`), or following the folder (`poll`). */
export type ControlMode = 'none' | 'explicit' | 'poll';

/** Execution providers the server knows how to ask onnxruntime-node for. */
export type ProviderName = 'tensorrt' | 'cuda' | 'webgpu' | 'cpu';

/** Options of the model manager (the service passes the plugin's). */
export interface ModelManagerOptions {
  /** The model repository folder (Triton's layout). */
  repository: string;
  /** Default `none`. */
  controlMode?: ControlMode;
  /** `explicit` mode: models loaded at start (`*` = all). */
  loadModels?: readonly string[];
  /** `poll` mode: how often the repository is rescanned; default 5 s. */
  pollIntervalMs?: number;
  /** Providers tried in order for GPU instances; default tensorrt, cuda, cpu. */
  executionProviders?: readonly ProviderName[];
  /** Fail a load instead of falling back to a later provider. */
  strictProviders?: boolean;
  /** Queue bound for models whose configuration sets none; default 1024 (0 = unbounded). */
  maxQueueSize?: number;
  /** Cores onnxruntime's intra-op threads are divided among; default all. */
  cpus?: number;
  /** GPU ids for GPU instances whose configuration names none. */
  pool?: ResourcePool | undefined;
  /** Reports (provider fallbacks, loads, failures). */
  onReport?: (
    level: 'info' | 'warning' | 'error',
    message: string,
    details?: Record<string, unknown>,
  ) => void;
}

/** A model's entry in the repository index. */
export interface ModelIndexEntry {
  name: string;
  version?: string;
  state: 'READY' | 'LOADING' | 'UNLOADING' | 'UNAVAILABLE';
  reason: string;
}

interface ModelEntry {
  name: string;
  versions: Map<number, ModelVersion>;
  loading: boolean;
  unloading: boolean;
  /** Why the model is not (fully) serving: the last load's error, or `unloaded`. */
  reason: string;
  /** Whether the server counts this model for readiness. */
  wanted: boolean;
  fingerprint: string | undefined;
  leases: Map<ModelVersion, Lease>;
  /** Serialises load and unload of one model. */
  chain: Promise<unknown>;
}

const DEFAULT_PROVIDERS: readonly ProviderName[] = ['tensorrt', 'cuda', 'cpu'];
const GPU_PROVIDERS = new Set<string>(['tensorrt', 'cuda', 'webgpu']);

/**
 * The model repository as a server sees it: loads versions (one session worker per instance), swaps
 * them on reload after the new one is ready (a broken new version leaves the old one serving), drains
 * before unloading, and answers which version serves a request.
 */
export class ModelManager {
  private readonly models = new Map<string, ModelEntry>();
  private readonly retiring = new Set<Promise<void>>();
  private pollTimer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private stopped = false;
  readonly controlMode: ControlMode;

  constructor(private readonly options: ModelManagerOptions) {
    this.controlMode = options.controlMode ?? 'none';
  }

  /** Loads what the control mode says to load at start; failures are recorded, not thrown. */
  async start(): Promise<void> {
    const names = await listModels(this.options.repository);
    let toLoad = names;
    if (this.controlMode === 'explicit') {
      const wanted = this.options.loadModels ?? [];
      toLoad = wanted.includes('*') ? names : [...wanted];
    }
    await Promise.all(
      toLoad.map(async (name) => {
        try {
          await this.load(name);
        } catch {
          // Recorded in the entry's reason; the server is not ready while a wanted model failed.
        }
      }),
    );
    if (this.controlMode === 'poll') {
      const interval = this.options.pollIntervalMs ?? 5000;
      this.pollTimer = setInterval(() => {
        this.polling ??= this.poll().finally(() => (this.polling = undefined));
      }, interval);
      this.pollTimer.unref();
    }
  }

  /** True when every wanted model has a ready version and none is loading. */
  get ready(): boolean {
    if (this.stopped) return false;
    for (const entry of this.models.values()) {
      if (!entry.wanted) continue;
      if (![...entry.versions.values()].some((version) => version.state === 'READY' && version.healthy))
        return false;
    }
    return true;
  }

  /**
   * The version that serves a request: the given one, or the highest loaded. Throws `NOT_FOUND` for an
   * unknown model or version, `NOT_READY` for one that is not serving.
   */
  resolve(name: string, version?: string): ModelVersion {
    const entry = this.models.get(name);
    if (!entry) {
      if (!isModelName(name))
        throw new InferenceError('INFERENCE_NOT_FOUND', `Request for unknown model: '${name}' is not found`);
      throw new InferenceError('INFERENCE_NOT_FOUND', `Request for unknown model: '${name}' is not found`);
    }
    if (version !== undefined && version !== '') {
      if (!/^\d{1,15}$/.test(version))
        throw new InferenceError(
          'INFERENCE_INVALID_ARGUMENT',
          `version "${version}" of model '${name}' is not a number`,
        );
      const found = entry.versions.get(Number(version));
      if (!found)
        throw new InferenceError(
          'INFERENCE_NOT_FOUND',
          `Request for unknown model: '${name}' version ${version} is not found`,
        );
      if (found.state !== 'READY' || !found.healthy)
        throw new InferenceError('INFERENCE_NOT_READY', 'Model version not ready');
      return found;
    }
    let best: ModelVersion | undefined;
    for (const candidate of entry.versions.values()) {
      if (candidate.state === 'READY' && candidate.healthy && (!best || candidate.version > best.version))
        best = candidate;
    }
    if (!best)
      throw new InferenceError(
        'INFERENCE_NOT_READY',
        `Model version not ready: model '${name}' has no ready version (${entry.reason || 'not loaded'})`,
      );
    return best;
  }

  /** Every loaded, ready version (for statistics and metrics). */
  loadedVersions(): ModelVersion[] {
    const list: ModelVersion[] = [];
    for (const entry of [...this.models.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      for (const version of [...entry.versions.values()].sort((a, b) => a.version - b.version))
        list.push(version);
    }
    return list;
  }

  /** True if the model is known (on disk or loaded before). */
  has(name: string): boolean {
    return this.models.has(name);
  }

  /** Triton's repository index: every model on disk and every loaded one, with state and reason. */
  async index(readyOnly: boolean): Promise<ModelIndexEntry[]> {
    const names = new Set([...(await listModels(this.options.repository)), ...this.models.keys()]);
    const list: ModelIndexEntry[] = [];
    for (const name of [...names].sort()) {
      const entry = this.models.get(name);
      if (!entry || entry.versions.size === 0) {
        if (readyOnly) continue;
        const state = entry?.loading ? 'LOADING' : entry?.unloading ? 'UNLOADING' : 'UNAVAILABLE';
        list.push({ name, state, reason: entry?.reason ?? '' });
        continue;
      }
      for (const version of [...entry.versions.values()].sort((a, b) => a.version - b.version)) {
        const dead = version.state === 'READY' && !version.healthy;
        if (readyOnly && (version.state !== 'READY' || dead)) continue;
        list.push({
          name,
          version: String(version.version),
          state: dead ? 'UNAVAILABLE' : version.state,
          reason: dead ? 'every instance of this version has stopped; reload the model' : '',
        });
      }
    }
    return list;
  }

  /**
   * Loads (or reloads) a model: new versions start in new workers; once every one is ready they replace
   * the old, which drain and stop. On failure the old versions keep serving and the error is thrown.
   */
  load(name: string, override?: { config?: string }): Promise<void> {
    if (this.stopped)
      return Promise.reject(new InferenceError('INFERENCE_UNAVAILABLE', 'the server is shutting down'));
    if (!isModelName(name))
      return Promise.reject(
        new InferenceError('INFERENCE_INVALID_ARGUMENT', `"${name}" is not a model name`),
      );
    const entry = this.entry(name);
    entry.wanted = true;
    const run = entry.chain.then(() => this.doLoad(entry, override?.config));
    entry.chain = run.catch(() => undefined);
    return run;
  }

  /** Unloads a model after its in-flight requests finish. */
  unload(name: string): Promise<void> {
    const entry = this.models.get(name);
    if (!entry)
      return Promise.reject(
        new InferenceError('INFERENCE_NOT_FOUND', `failed to unload '${name}', no version is available`),
      );
    entry.wanted = false;
    const run = entry.chain.then(async () => {
      entry.unloading = true;
      const versions = [...entry.versions.values()];
      entry.versions.clear();
      try {
        await Promise.all(versions.map((version) => this.retire(entry, version)));
      } finally {
        entry.unloading = false;
        entry.reason = 'unloaded';
      }
    });
    entry.chain = run.catch(() => undefined);
    return run;
  }

  /** Stops polling, drains and unloads everything. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    await this.polling;
    await Promise.all(
      [...this.models.values()].map(async (entry) => {
        await entry.chain;
        const versions = [...entry.versions.values()];
        entry.versions.clear();
        await Promise.all(versions.map((version) => this.retire(entry, version)));
      }),
    );
    await Promise.all(this.retiring);
  }

  private entry(name: string): ModelEntry {
    let entry = this.models.get(name);
    if (!entry) {
      entry = {
        name,
        versions: new Map(),
        loading: false,
        unloading: false,
        reason: '',
        wanted: false,
        fingerprint: undefined,
        leases: new Map(),
        chain: Promise.resolve(),
      };
      this.models.set(name, entry);
    }
    return entry;
  }

  private async doLoad(entry: ModelEntry, override: string | undefined): Promise<void> {
    entry.loading = true;
    const modelDir = join(this.options.repository, entry.name);
    const started: ModelVersion[] = [];
    try {
      const fingerprint = await fingerprintModel(modelDir);
      const partial = await readModelConfig(modelDir, entry.name, override);
      const versions = selectVersions(
        entry.name,
        await listVersions(modelDir, partial.default_model_filename),
        partial.version_policy,
      );
      for (const version of versions) started.push(await this.loadVersion(entry, partial, version));
      const old = [...entry.versions.values()];
      entry.versions = new Map(started.map((version) => [version.version, version]));
      entry.reason = '';
      entry.fingerprint = fingerprint;
      for (const version of old) this.track(this.retire(entry, version));
      this.options.onReport?.(
        'info',
        `model "${entry.name}" loaded: version ${versions.join(', ')} on ${started.map((v) => v.provider).join(', ')}`,
        {
          model: entry.name,
          versions,
        },
      );
    } catch (error) {
      await Promise.all(started.map((version) => version.unload()));
      const message = (error as Error).message;
      entry.reason = message;
      this.options.onReport?.(
        'error',
        `model "${entry.name}" failed to load: ${message}${entry.versions.size > 0 ? ' (the previous version keeps serving)' : ''}`,
        {
          model: entry.name,
        },
      );
      throw isInferenceError(error)
        ? error
        : new InferenceError('INFERENCE_MODEL_INVALID', `failed to load '${entry.name}': ${message}`, {
            cause: error,
          });
    } finally {
      entry.loading = false;
    }
  }

  private async loadVersion(
    entry: ModelEntry,
    partial: PartialModelConfig,
    version: number,
  ): Promise<ModelVersion> {
    const modelPath = join(
      this.options.repository,
      entry.name,
      String(version),
      partial.default_model_filename,
    );
    const source = `${entry.name}/${version}/${partial.default_model_filename}`;
    const totalInstances = partial.instance_group.reduce((sum, group) => sum + group.count, 0);
    const cpus = this.options.cpus ?? availableParallelism();
    const intraParam = partial.parameters.intra_op_thread_count?.string_value;
    const interParam = partial.parameters.inter_op_thread_count?.string_value;
    const intra =
      intraParam !== undefined && Number(intraParam) > 0
        ? Number(intraParam)
        : Math.max(1, Math.floor(cpus / totalInstances));
    const strictParam = partial.parameters.strict_execution_providers?.string_value;
    const strict =
      strictParam !== undefined ? strictParam === 'true' : (this.options.strictProviders ?? false);
    const threadParam = partial.parameters.session_thread?.string_value ?? 'worker';
    if (threadParam !== 'worker' && threadParam !== 'main') {
      throw new InferenceError(
        'INFERENCE_CONFIG_INVALID',
        `${entry.name}: parameters.session_thread must be "worker" or "main", got "${threadParam}"`,
      );
    }
    const lease = await this.gpuLease(partial.instance_group);
    const workers: { worker: SessionRunner; loaded: LoadedSession }[] = [];
    try {
      let config: ModelConfig | undefined;
      let index = 0;
      for (const group of partial.instance_group) {
        for (let i = 0; i < group.count; i += 1) {
          const providers = this.providersFor(partial, group, i, lease);
          const sessionOptions = {
            strict,
            intraOpNumThreads: intra,
            ...(interParam !== undefined &&
              Number(interParam) > 0 && { interOpNumThreads: Number(interParam) }),
          };
          const started =
            threadParam === 'main'
              ? await InlineSession.start(modelPath, providers, sessionOptions)
              : await SessionWorker.start(
                  `${entry.name}/${version}#${index}`,
                  modelPath,
                  providers,
                  sessionOptions,
                );
          workers.push(started);
          index += 1;
          if (!config) {
            try {
              config = completeModelConfig(partial, started.loaded.inputs, started.loaded.outputs, source);
            } catch (error) {
              throw new InferenceError('INFERENCE_CONFIG_INVALID', (error as Error).message);
            }
          }
          for (const fallback of started.loaded.fallbacks) {
            this.options.onReport?.(
              'warning',
              `model "${entry.name}" version ${version}: provider ${fallback.provider} not used: ${fallback.reason}`,
              {
                model: entry.name,
                version,
                provider: fallback.provider,
              },
            );
          }
        }
      }
      const instances = workers.map(({ worker, loaded }) => ({
        worker,
        busy: false,
        provider: loaded.provider,
      }));
      const loaded = new ModelVersion(entry.name, version, config!, instances, workers[0]!.loaded, {
        maxQueueSize: this.options.maxQueueSize ?? 1024,
      });
      if (lease) entry.leases.set(loaded, lease);
      return loaded;
    } catch (error) {
      await Promise.all(workers.map(({ worker }) => worker.close()));
      lease?.release();
      throw error;
    }
  }

  private providersFor(
    partial: PartialModelConfig,
    group: InstanceGroup,
    index: number,
    lease: Lease | undefined,
  ): ProviderSpec[] {
    const param = partial.parameters.execution_providers?.string_value;
    let names: string[];
    if (param !== undefined) {
      names = param
        .split(',')
        .map((name) => name.trim())
        .filter(Boolean);
      const unknown = names.find((name) => !['tensorrt', 'cuda', 'webgpu', 'cpu'].includes(name));
      if (unknown)
        throw new InferenceError(
          'INFERENCE_CONFIG_INVALID',
          `${partial.name}: parameters.execution_providers: unknown provider "${unknown}" (expected tensorrt, cuda, webgpu, cpu)`,
        );
    } else if (group.kind === 'KIND_CPU') names = ['cpu'];
    else if (
      group.kind === 'KIND_AUTO' &&
      !lease &&
      group.gpus.length === 0 &&
      (this.options.pool?.capacity.gpus.length ?? 0) === 0
    )
      names = ['cpu'];
    else names = [...(this.options.executionProviders ?? DEFAULT_PROVIDERS)];
    const gpuIds = group.gpus.length > 0 ? group.gpus : lease ? lease.grant.gpus.map(Number) : [0];
    const deviceId = gpuIds[index % gpuIds.length] ?? 0;
    return names.map((name) => (GPU_PROVIDERS.has(name) && name !== 'webgpu' ? { name, deviceId } : name));
  }

  private async gpuLease(groups: InstanceGroup[]): Promise<Lease | undefined> {
    const pool = this.options.pool;
    const wantsPoolGpu = groups.some((group) => group.kind !== 'KIND_CPU' && group.gpus.length === 0);
    if (!pool || !wantsPoolGpu || pool.available().gpus.length === 0) return undefined;
    return pool.acquire({ cpus: 0, memoryMb: 0, gpus: 1, gpuOptional: true });
  }

  private async retire(entry: ModelEntry, version: ModelVersion): Promise<void> {
    await version.unload();
    entry.leases.get(version)?.release();
    entry.leases.delete(version);
  }

  private track(promise: Promise<void>): void {
    const tracked = promise.catch(() => undefined).finally(() => this.retiring.delete(tracked));
    this.retiring.add(tracked);
  }

  private async poll(): Promise<void> {
    if (this.stopped) return;
    let names: string[];
    try {
      names = await listModels(this.options.repository);
    } catch {
      return;
    }
    for (const name of names) {
      const entry = this.models.get(name);
      const fingerprint = await fingerprintModel(join(this.options.repository, name));
      if (entry && entry.fingerprint === fingerprint) continue;
      if (entry && !entry.fingerprint && entry.reason && !entry.wanted) continue;
      try {
        await this.load(name);
      } catch {
        // A failed reload keeps the old version; the fingerprint is remembered so it is not retried
        // until the folder changes again.
        this.entry(name).fingerprint = fingerprint;
      }
    }
    for (const name of [...this.models.keys()]) {
      if (!names.includes(name) && this.models.get(name)!.versions.size > 0)
        await this.unload(name).catch(() => undefined);
    }
  }
}
