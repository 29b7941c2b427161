import { randomUUID } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DockerError } from '../errors/docker-error.js';
import { checkContainerName, containerName, shortId } from '../naming/container-name.js';
import { checkImageRef } from '../naming/image-ref.js';
import { jobLabels, labelKeys, type Ownership, type ProcessIdentity } from '../naming/labels.js';
import type { DockerProfile } from '../profiles/docker-profile.js';
import type { ContainerSpec } from './container-spec.js';

/** A bind mount after resolution. */
interface ResolvedMount {
  source: string;
  target: string;
  readOnly: boolean;
}

/** Host folders the launcher prepares for a job (the profile's workspace). */
export interface JobWorkspace {
  /** Data folder: must exist, never created. */
  data?: string;
  /** Outputs folder: created fresh (owned by the job's user), kept afterwards. */
  outputs?: string;
  /** Scratch folder: created, removed after the job. */
  scratch?: string;
  /** Owner the created folders get (numeric `uid:gid` users only). */
  owner?: { uid: number; gid: number };
}

/** Everything needed to create one container, with every default decided. The single source for create and dry-run. */
export interface ResolvedJob {
  jobId: string;
  /** `<ns>.job-id=<id>`: the label filter that selects exactly this job's container (events, tests). */
  jobLabel: string;
  name: string;
  image: string;
  profile: DockerProfile;
  cmd?: string[];
  entrypoint?: string[];
  env: Record<string, string>;
  workdir?: string;
  user?: string;
  mounts: ResolvedMount[];
  network?: string;
  readOnlyRoot: boolean;
  tmpfs: Record<string, string>;
  gpus?: readonly string[] | 'all';
  memoryMb?: number;
  cpus?: number;
  pids: number;
  shmMb?: number;
  groupAdd?: string[];
  capDrop: string[];
  noNewPrivileges: boolean;
  init: boolean;
  labels: Record<string, string>;
  timeoutMs?: number;
  killGraceMs: number;
  autoRemove: boolean;
  workspace: JobWorkspace;
}

/** Runner-level defaults a spec is resolved against. */
export interface ResolveContext {
  profiles: Readonly<Record<string, DockerProfile>>;
  /** Profile used when the spec names none. */
  profile: string;
  ownership: Ownership;
  process: ProcessIdentity;
  /** The invoking user (`process.getuid/getgid`), the default container user. */
  invoker?: { uid: number; gid: number };
  /** Where `outputs_<id>` folders are created (default: the invoking user's home). */
  outputsRoot?: string;
  /** Where `scratch_<id>` folders are created (default: the invoking user's home). */
  scratchRoot?: string;
  data?: string;
  outputs?: string;
  killGraceMs: number;
  autoRemove: boolean;
  /** Fixed job id (dry-run snapshots); random otherwise. */
  jobId?: string;
}

function invalid(message: string, details: Record<string, unknown> = {}): DockerError {
  return new DockerError('DOCKER_SPEC_INVALID', message, { details });
}

/** Numeric `uid[:gid]`, for chowning the folders the launcher creates. */
function numericOwner(user: string | undefined, fallbackGid: number | undefined): JobWorkspace['owner'] {
  const m = user === undefined ? null : /^(\d+)(?::(\d+))?$/.exec(user);
  if (m === null) return undefined;
  const uid = Number(m[1]);
  const gid = m[2] === undefined ? fallbackGid : Number(m[2]);
  return gid === undefined ? undefined : { uid, gid };
}

/**
 * Resolves a validated spec against its profile and the runner's defaults: applies the profile, adds the
 * workspace mounts, decides name, labels and user, and refuses combinations the profile forbids.
 * Pure apart from reading the clock and the random job id: no API call, no file system change.
 */
export function resolveContainerSpec(spec: ContainerSpec, ctx: ResolveContext): ResolvedJob {
  const profileName = spec.profile ?? ctx.profile;
  // Own properties only: `--profile constructor` is an unknown profile, not `Object.prototype.constructor`.
  const profile = Object.hasOwn(ctx.profiles, profileName) ? ctx.profiles[profileName] : undefined;
  if (profile === undefined) {
    throw invalid(`unknown profile "${profileName}" (known: ${Object.keys(ctx.profiles).join(', ')})`);
  }
  checkImageRef(spec.image);

  if (profile.lockNetwork && spec.network !== undefined && spec.network !== profile.network) {
    throw invalid(
      `profile "${profile.name}" requires network "${profile.network ?? 'default'}"; got "${spec.network}"`,
    );
  }
  if (profile.readOnlyRoot && spec.readOnlyRoot === false) {
    throw invalid(`profile "${profile.name}" requires a read-only root filesystem`);
  }

  const jobId = ctx.jobId ?? randomUUID();
  const short = shortId(jobId);
  const step = spec.step ?? 'job';
  const name =
    spec.name === undefined
      ? containerName(ctx.ownership.project, step, jobId)
      : checkContainerName(spec.name);

  const user =
    spec.user ??
    (profile.user === 'invoker' && ctx.invoker ? `${ctx.invoker.uid}:${ctx.invoker.gid}` : undefined);
  // An unknown uid gets HOME=/ (not writable); give the job a writable HOME unless it brings its own.
  const env: Record<string, string> = {
    ...(user === undefined ? {} : { HOME: profile.home }),
    ...spec.env,
  };

  const workspace: JobWorkspace = {};
  const mounts: ResolvedMount[] = [];
  const ws = profile.workspace;
  const outputsRoot = ctx.outputsRoot ?? homedir();
  const scratchRoot = ctx.scratchRoot ?? outputsRoot;
  if (ws?.data) {
    const data = spec.data ?? ctx.data;
    if (data === undefined && ws.data.required) {
      throw invalid(`profile "${profile.name}" needs a data folder (data / --data) for ${ws.data.target}`);
    }
    if (data !== undefined) {
      workspace.data = data;
      mounts.push({ source: data, target: ws.data.target, readOnly: ws.data.readOnly });
    }
  }
  if (ws?.outputs) {
    workspace.outputs = spec.outputs ?? ctx.outputs ?? join(outputsRoot, `outputs_${short}`);
    mounts.push({ source: workspace.outputs, target: ws.outputs.target, readOnly: false });
  }
  if (ws?.scratch) {
    workspace.scratch = join(scratchRoot, `scratch_${short}`);
    mounts.push({ source: workspace.scratch, target: ws.scratch.target, readOnly: false });
  }
  const owner = numericOwner(user, ctx.invoker?.gid);
  if (owner !== undefined) workspace.owner = owner;
  for (const m of spec.mounts ?? [])
    mounts.push({ source: m.source, target: m.target, readOnly: m.readOnly ?? false });

  const targets = new Set<string>();
  for (const m of mounts) {
    if (targets.has(m.target)) throw invalid(`two mounts target ${m.target}`, { target: m.target });
    targets.add(m.target);
  }

  const labels = jobLabels({
    ownership: ctx.ownership,
    process: ctx.process,
    jobId,
    step,
    ...(spec.run === undefined ? {} : { run: spec.run }),
    ...(spec.gpus === undefined ? {} : { gpus: spec.gpus }),
    ...(spec.labels === undefined ? {} : { extra: spec.labels }),
  });

  const job: ResolvedJob = {
    jobId,
    jobLabel: `${labelKeys(ctx.ownership.namespace).jobId}=${jobId}`,
    name,
    image: spec.image,
    profile,
    env,
    mounts,
    readOnlyRoot: spec.readOnlyRoot ?? profile.readOnlyRoot,
    tmpfs: { ...profile.tmpfs, ...spec.tmpfs },
    pids: spec.pids ?? profile.pids,
    capDrop: profile.capDrop,
    noNewPrivileges: profile.noNewPrivileges,
    init: profile.init,
    labels,
    killGraceMs: spec.killGraceMs ?? ctx.killGraceMs,
    autoRemove: spec.autoRemove ?? ctx.autoRemove,
    workspace,
  };
  const network = spec.network ?? profile.network;
  const memoryMb = spec.memoryMb ?? profile.memoryMb;
  if (spec.cmd !== undefined) job.cmd = spec.cmd;
  if (spec.entrypoint !== undefined) job.entrypoint = spec.entrypoint;
  if (spec.workdir !== undefined) job.workdir = spec.workdir;
  if (user !== undefined) job.user = user;
  if (network !== undefined) job.network = network;
  if (spec.gpus !== undefined) job.gpus = spec.gpus;
  if (memoryMb !== undefined) job.memoryMb = memoryMb;
  if (spec.cpus !== undefined) job.cpus = spec.cpus;
  if (spec.shmMb !== undefined) job.shmMb = spec.shmMb;
  if (spec.groupAdd !== undefined) job.groupAdd = spec.groupAdd;
  if (spec.timeoutMs !== undefined) job.timeoutMs = spec.timeoutMs;
  return job;
}
