import { constants } from 'node:os';

/**
 * Slurm's job, partition and node records as this plugin uses them, read from any supported API version:
 * v0.0.38 (22.05: flat numbers, `exit_code` a wait status, `job_state` a string) and the data-parser
 * versions v0.0.39 to v0.0.46 (numbers as `{set, infinite, number}`, `job_state` a list of flags,
 * `exit_code` `{status, return_code, signal}` from v0.0.40).
 */

/** Job states after which a job no longer runs (`job_state` base states). */
const TERMINAL_STATES: ReadonlySet<string> = new Set([
  'COMPLETED',
  'CANCELLED',
  'FAILED',
  'TIMEOUT',
  'NODE_FAIL',
  'PREEMPTED',
  'BOOT_FAIL',
  'DEADLINE',
  'OUT_OF_MEMORY',
]);

const BASE_STATES: ReadonlySet<string> = new Set([...TERMINAL_STATES, 'PENDING', 'RUNNING', 'SUSPENDED']);

/** State flags during which a finished job still has processes or resources on its nodes. */
const BUSY_FLAGS: ReadonlySet<string> = new Set(['COMPLETING', 'SIGNALING', 'STAGE_OUT']);

/** How a job's batch script ended. */
export interface JobExit {
  /** Exit code, or null when it was killed by a signal. */
  code: number | null;
  /** `SIGKILL`, … or null. */
  signal: string | null;
}

/** A job record, normalised. */
export interface JobRecord {
  jobId: number;
  name: string;
  user: string;
  comment: string;
  partition: string;
  /** Base state (`PENDING`, `RUNNING`, `COMPLETED`, …), or '' when only flags were reported. */
  state: string;
  /** State flags (`COMPLETING`, `REQUEUED`, `CONFIGURING`, …). */
  flags: string[];
  /** Why it waits or ended (`Resources`, `NonZeroExitCode`, `TimeLimit`); '' for none. */
  reason: string;
  /** Slurm's free-text addition to the reason. */
  description: string;
  /** How the batch script ended, once it did. */
  exit?: JobExit;
  /** The node running the batch script. */
  batchHost: string;
}

/** Whether the job is over and nothing of it is left on its nodes (the resources were given back). */
export function isGone(job: JobRecord): boolean {
  return TERMINAL_STATES.has(job.state) && !job.flags.some((flag) => BUSY_FLAGS.has(flag));
}

/** Whether the job has ended (it may still be completing on its nodes). */
export function hasEnded(job: JobRecord): boolean {
  return TERMINAL_STATES.has(job.state);
}

type Json = Record<string, unknown>;

function record(value: unknown): Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : {};
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** Slurm's "not set" (NO_VAL) and "unlimited" (INFINITE) sentinels of 16-, 32- and 64-bit fields. */
const SENTINELS = new Set([0xfffe, 0xffff, 0xfffffffe, 0xffffffff]);

/**
 * A number field: a plain number (v0.0.38, where -1 or a sentinel means unlimited or not set) or
 * `{set, infinite, number}` (data-parser versions). Undefined for not set or unlimited.
 */
export function numberField(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return Number.isFinite(value) && value >= 0 && !SENTINELS.has(value) && value < 2 ** 53
      ? value
      : undefined;
  }
  const v = record(value);
  if (v.set === true && v.infinite !== true && typeof v.number === 'number') return numberField(v.number);
  return undefined;
}

/** The signal number's name on Linux (Slurm reports numbers; its nodes run Linux). */
function signalName(signal: number): string {
  for (const [name, number] of Object.entries(constants.signals)) if (number === signal) return name;
  return `SIG${signal}`;
}

/** A wait status (`exit_code` of v0.0.38 and v0.0.39) as exit code or signal. */
function fromWaitStatus(status: number): JobExit {
  const signal = status & 0x7f;
  return signal === 0
    ? { code: (status >> 8) & 0xff, signal: null }
    : { code: null, signal: signalName(signal) };
}

function parseExit(value: unknown, ended: boolean): JobExit | undefined {
  if (!ended) return undefined;
  if (typeof value === 'number') return fromWaitStatus(value);
  const v = record(value);
  if ('status' in v || 'return_code' in v || 'signal' in v) {
    const status = Array.isArray(v.status) ? v.status.map(text) : [text(v.status)];
    const signal = record(v.signal);
    const signalNumber = numberField(signal.id);
    const signalText = text(signal.name);
    if (status.includes('SIGNALED') || (signalNumber !== undefined && signalNumber > 0)) {
      const name =
        signalText !== '' ? (signalText.startsWith('SIG') ? signalText : `SIG${signalText}`) : undefined;
      return {
        code: null,
        signal: name ?? (signalNumber === undefined ? 'SIGKILL' : signalName(signalNumber)),
      };
    }
    const code = numberField(v.return_code);
    return code === undefined ? undefined : { code, signal: null };
  }
  const raw = numberField(value);
  return raw === undefined ? undefined : fromWaitStatus(raw);
}

/** A job record of any supported API version. */
export function parseJob(value: unknown): JobRecord | undefined {
  const j = record(value);
  const jobId = numberField(j.job_id);
  if (jobId === undefined) return undefined;
  const states = (Array.isArray(j.job_state) ? j.job_state : [j.job_state]).map(text).filter((s) => s !== '');
  const state = states.find((s) => BASE_STATES.has(s)) ?? '';
  const flags = states.filter((s) => !BASE_STATES.has(s));
  const reason = text(j.state_reason);
  return {
    jobId,
    name: text(j.name),
    user: text(j.user_name),
    comment: text(j.comment),
    partition: text(j.partition),
    state,
    flags,
    reason: reason === 'None' ? '' : reason,
    description: text(j.state_description),
    ...(() => {
      const exit = parseExit(j.exit_code, TERMINAL_STATES.has(state));
      return exit === undefined ? {} : { exit };
    })(),
    batchHost: text(j.batch_host),
  };
}

/** A partition's limits, as far as Slurm reports them (undefined: unlimited or not reported). */
export interface PartitionInfo {
  name: string;
  maxCpusPerNode?: number;
  maxMemoryPerNodeMb?: number;
  maxMemoryPerCpuMb?: number;
  maxTimeMinutes?: number;
  /** The node list expression (`node[01-04]`). */
  nodes: string;
  /** `UP`, `DOWN`, `DRAIN`, `INACTIVE`. */
  state: string;
  isDefault: boolean;
}

function list(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(text).filter((s) => s !== '');
  return text(value)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** A partition record of any supported API version. */
export function parsePartition(value: unknown): PartitionInfo | undefined {
  const p = record(value);
  const name = text(p.name);
  if (name === '') return undefined;
  const maximums = record(p.maximums);
  const dataParser = 'maximums' in p;
  const partition = record(p.partition);
  const states = dataParser ? list(partition.state) : list(p.state);
  // v0.0.38 lists `default` among the flags; the data-parser versions do not report it.
  const flags = list(p.flags);
  const info: PartitionInfo = {
    name,
    nodes: dataParser ? text(record(p.nodes).configured) : text(p.nodes),
    state: states[0] ?? '',
    isDefault: flags.some((f) => f.toLowerCase() === 'default'),
  };
  const set = (
    key: 'maxCpusPerNode' | 'maxMemoryPerNodeMb' | 'maxMemoryPerCpuMb' | 'maxTimeMinutes',
    v: unknown,
  ) => {
    const n = numberField(v);
    if (n !== undefined) info[key] = n;
  };
  if (dataParser) {
    set('maxCpusPerNode', maximums.cpus_per_node);
    set('maxMemoryPerNodeMb', maximums.partition_memory_per_node);
    set('maxMemoryPerCpuMb', maximums.partition_memory_per_cpu);
    set('maxTimeMinutes', maximums.time);
  } else {
    set('maxCpusPerNode', p.maximum_cpus_per_node);
    set('maxMemoryPerNodeMb', p.maximum_memory_per_node);
    set('maxMemoryPerCpuMb', p.maximum_memory_per_cpu);
    set('maxTimeMinutes', p.max_time_limit);
  }
  return info;
}

/** A node's size, as far as the partition checks need it. */
export interface NodeInfo {
  name: string;
  cpus: number;
  realMemoryMb: number;
  /** GPUs of the node's `gres` (`gpu:2`, `gpu:a100:4(S:0-1)`). */
  gpus: number;
  partitions: string[];
}

/** The GPU count of a `gres` string (`gpu:2,gpu:a100:1(S:0)`), 0 when it has none. */
export function gpuCount(gres: string): number {
  let total = 0;
  for (const part of gres.split(/,(?![^(]*\))/)) {
    const match = /^gpu(?::[^:(]+)?:(\d+)/.exec(part.trim());
    if (match) total += Number(match[1]);
  }
  return total;
}

/** A node record of any supported API version. */
export function parseNode(value: unknown): NodeInfo | undefined {
  const n = record(value);
  const name = text(n.name);
  if (name === '') return undefined;
  return {
    name,
    cpus: numberField(n.cpus) ?? 0,
    realMemoryMb: numberField(n.real_memory) ?? 0,
    gpus: gpuCount(text(n.gres)),
    partitions: list(n.partitions),
  };
}
