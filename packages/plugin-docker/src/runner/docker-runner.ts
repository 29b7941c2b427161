import {
  inject,
  injectable,
  type ExecOptions,
  type ProcessEvent,
  type ProcessSpec,
  type Runner,
  type RunnerIdentityRequest,
} from '@beamline/core';
import type Docker from 'dockerode';
import { defer, type Observable } from 'rxjs';
import { createDockerClient, isLocalDaemon, type DockerConnectionOptions } from '../client/docker-client.js';
import { Engine } from '../client/engine.js';
import { dryRunJob, type DryRunResult } from '../dry-run/dry-run.js';
import { classifyApiError, statusOf } from '../errors/classify-error.js';
import { DockerError } from '../errors/docker-error.js';
import { pullImage, type PullPolicy } from '../images/pull-image.js';
import { runJanitor, type JanitorReport } from '../janitor/janitor.js';
import { parseImageRef } from '../naming/image-ref.js';
import { currentOwner, currentProcess, DEFAULT_LABEL_NAMESPACE, type Ownership } from '../naming/labels.js';
import {
  builtinProfiles,
  defineDockerProfile,
  type DockerProfile,
  type DockerProfileInput,
} from '../profiles/docker-profile.js';
import { parseContainerSpec, type ContainerSpecInput } from '../spec/container-spec.js';
import { fromProcessSpec } from '../spec/from-process-spec.js';
import { resolveContainerSpec, type ResolvedJob } from '../spec/resolve-spec.js';
import { DockerClientToken, DockerOptionsToken } from '../tokens.js';
import { runContainer, type RunContext } from './run-container.js';

/** Options of `DockerRunner` (and of `createDockerPlugin`). */
export interface DockerRunnerOptions {
  /** An existing dockerode client (shared); otherwise one is created from `connection` / `DOCKER_HOST`. */
  docker?: Docker;
  connection?: DockerConnectionOptions;
  /** Runner name a step picks (`runner: docker`); default `docker`. */
  name?: string;
  /** Project id: container names, `project` label, janitor scope. Default `beamline`. */
  project?: string;
  /** Owner label; default the invoking uid. */
  owner?: string;
  /** Label namespace; default `io.beamline`. */
  labelNamespace?: string;
  /** Profile used when a spec names none; default `default`. */
  profile?: string;
  /** A lab's own profiles, added to (or replacing) the built-in `default` and `tre`. */
  profiles?: Readonly<Record<string, DockerProfileInput>>;
  /** Image used when a ProcessSpec names none. */
  image?: string;
  /** Host data folder for profiles with a data mount (TRE: `/safe_data/<project>`). */
  data?: string;
  /** Host outputs folder (default: a fresh `<outputsRoot>/outputs_<id>` per job). */
  outputs?: string;
  /** Where per-job outputs folders are created; default the invoking user's home, as the TRE does. */
  outputsRoot?: string;
  /** Where per-job scratch folders are created; default `outputsRoot`. */
  scratchRoot?: string;
  /** When to pull a missing image; default `missing` (offline first: present images are never pulled). */
  pullPolicy?: PullPolicy;
  /** Extra pull attempts on transient registry failures; default 2. */
  pullRetries?: number;
  /** Let the daemon remove containers (`--rm`); default false (inspect after exit, then remove). */
  autoRemove?: boolean;
  /** Grace between SIGTERM and SIGKILL when a spec gives none; default 10 s. */
  killGraceMs?: number;
}

/**
 * The core `Runner` for Docker containers (name `docker`). `exec` maps the core's ProcessSpec onto a
 * validated container spec and runs it with the race-free sequence (see `runContainer`); `run` accepts
 * the full typed container spec. Every container carries the ownership labels, so the janitor can find
 * leftovers of a crashed process.
 *
 * In a runtime the Docker plugin has the container build it (options and client injected by token);
 * applications without a runtime construct it directly: `new DockerRunner({ project })`.
 */
@injectable()
export class DockerRunner implements Runner {
  readonly name: string;
  readonly docker: Docker;
  readonly ownership: Ownership;
  readonly profiles: Readonly<Record<string, DockerProfile>>;
  private readonly engine: Engine;
  private readonly options: DockerRunnerOptions;
  private readonly pending = new Set<Promise<unknown>>();

  constructor(
    @inject(DockerOptionsToken) options: DockerRunnerOptions = {},
    @inject(DockerClientToken) docker: Docker = options.docker ?? createDockerClient(options.connection),
  ) {
    this.options = options;
    this.name = options.name ?? 'docker';
    this.docker = docker;
    this.engine = new Engine(this.docker);
    this.ownership = {
      namespace: options.labelNamespace ?? DEFAULT_LABEL_NAMESPACE,
      project: options.project ?? 'beamline',
      owner: options.owner ?? currentOwner(),
    };
    const own = Object.fromEntries(
      Object.entries(options.profiles ?? {}).map(([key, p]) => [key, defineDockerProfile(p)] as const),
    );
    this.profiles = { ...builtinProfiles, ...own };
    const profile = options.profile ?? 'default';
    if (!Object.hasOwn(this.profiles, profile)) {
      throw new DockerError('DOCKER_SPEC_INVALID', `unknown profile "${profile}"`, { details: { profile } });
    }
  }

  /**
   * The image's ID (`sha256:…`, a content digest), so a rebuilt or re-pulled image changes a step's cache
   * key. Applies the pull policy when the image is not present.
   */
  async identity(request: RunnerIdentityRequest): Promise<string> {
    const image = request.image ?? this.options.image;
    if (image === undefined) throw new DockerError('DOCKER_SPEC_INVALID', 'the docker runner needs an image');
    parseImageRef(image);
    try {
      return `docker:${(await this.engine.inspectImage(image)).Id}`;
    } catch (error) {
      if (statusOf(error) !== 404) throw classifyApiError(error, 'other', { image });
    }
    const pulled = await pullImage(this.docker, image, this.pullOptions());
    return `docker:${pulled.id}`;
  }

  /** Runs a core ProcessSpec (argv = Cmd, no shell added). */
  exec(spec: ProcessSpec, options: ExecOptions = {}): Observable<ProcessEvent> {
    return this.runResolved(() => this.resolveProcessSpec(spec), options);
  }

  /** Runs a full typed container spec (strictly validated: unknown keys are refused). */
  run(spec: ContainerSpecInput, options: ExecOptions = {}): Observable<ProcessEvent> {
    return this.runResolved(() => this.resolve(spec), options);
  }

  /** Validates and resolves a container spec without touching the daemon (also the basis of `dryRun`). */
  resolve(spec: ContainerSpecInput, jobId?: string): ResolvedJob {
    const o = this.options;
    return resolveContainerSpec(parseContainerSpec(spec), {
      profiles: this.profiles,
      profile: o.profile ?? 'default',
      ownership: this.ownership,
      process: currentProcess(),
      ...(typeof process.getuid === 'function' && typeof process.getgid === 'function'
        ? { invoker: { uid: process.getuid(), gid: process.getgid() } }
        : {}),
      ...(o.outputsRoot === undefined ? {} : { outputsRoot: o.outputsRoot }),
      ...(o.scratchRoot === undefined ? {} : { scratchRoot: o.scratchRoot }),
      ...(o.data === undefined ? {} : { data: o.data }),
      ...(o.outputs === undefined ? {} : { outputs: o.outputs }),
      killGraceMs: o.killGraceMs ?? 10_000,
      autoRemove: o.autoRemove ?? false,
      ...(jobId === undefined ? {} : { jobId }),
    });
  }

  /** The equivalent `docker run` line and API body of a spec; runs nothing. */
  dryRun(spec: ContainerSpecInput, jobId?: string): DryRunResult {
    return dryRunJob(this.resolve(spec, jobId));
  }

  /** Removes this owner's leftover containers of this project (see `runJanitor`). */
  janitor(): Promise<JanitorReport> {
    return runJanitor(this.docker, { ownership: this.ownership });
  }

  /** Waits for clean-up still running after streams were unsubscribed (containers being stopped and removed). */
  async dispose(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private resolveProcessSpec(spec: ProcessSpec): ResolvedJob {
    return this.resolve(fromProcessSpec(spec, this.options.image));
  }

  private pullOptions(): { policy: PullPolicy; retries?: number } {
    return {
      policy: this.options.pullPolicy ?? 'missing',
      ...(this.options.pullRetries === undefined ? {} : { retries: this.options.pullRetries }),
    };
  }

  private runResolved(resolve: () => ResolvedJob, options: ExecOptions): Observable<ProcessEvent> {
    const policy = this.options.pullPolicy ?? 'missing';
    const ctx: RunContext = {
      engine: this.engine,
      localHost: isLocalDaemon(this.docker),
      pullFirst: policy === 'always',
      track: (work) => {
        this.pending.add(work);
        void work.finally(() => this.pending.delete(work));
      },
      onMissingImage: async (image, signal) => {
        if (policy === 'never') return false;
        await pullImage(this.docker, image, { ...this.pullOptions(), policy: 'always', signal });
        return true;
      },
    };
    // Resolution runs at subscription: a bad spec is an error notification, before any API call.
    return defer(() => runContainer(ctx, resolve(), options));
  }
}
