import type { ProcessSpec } from '@beamline/core';
import { SlurmError } from '../errors/slurm-error.js';

/** What of this process's environment a job gets besides the step's own variables. */
export type EnvironmentExport = 'minimal' | 'all' | readonly string[];

/**
 * The variables `minimal` passes on: enough for a shell to find programs and print text as the user
 * expects, nothing that belongs to this process alone (tokens, sockets, terminals).
 */
export const MINIMAL_ENVIRONMENT = [
  'PATH',
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
  'TZ',
  'HOME',
  'USER',
  'LOGNAME',
] as const;

/** Variables never passed on from this process: the credentials this runner itself uses. */
const NEVER_EXPORTED = new Set(['SLURM_JWT']);

/** The resources a job asks Slurm for. */
export interface JobResources {
  cpusPerTask?: number;
  memoryMb?: number;
  gpus?: number;
  /** `--time` in minutes. */
  timeLimitMinutes?: number;
  /** The step's own limit, in minutes (rounded up), when it has one: what a partition limit is checked against. */
  stepLimitMinutes?: number;
}

/**
 * The resources of a step: the request the engine passes for a runner that places work itself, else
 * what the step was granted (counts only; the ids of a local grant mean nothing on a cluster node).
 */
export function jobResources(
  spec: ProcessSpec,
  limitMs: number | undefined,
  killGraceMs: number,
): JobResources {
  const request = spec.request;
  const cpus = request?.cpus ?? spec.resources?.cpus;
  const memoryMb = request?.memoryMb ?? spec.resources?.memoryMb;
  const gpus = request?.gpus ?? spec.resources?.gpus.length;
  const out: JobResources = {};
  if (cpus !== undefined && cpus > 0) out.cpusPerTask = Math.ceil(cpus - 1e-9);
  if (memoryMb !== undefined && memoryMb > 0) out.memoryMb = Math.ceil(memoryMb);
  if (gpus !== undefined && gpus > 0) out.gpus = gpus;
  if (limitMs !== undefined && limitMs > 0) {
    out.stepLimitMinutes = Math.ceil(limitMs / 60_000);
    // Beamline stops the step itself (SIGTERM, grace, cancel); Slurm's limit is the safety net for a
    // runner that is gone, so it leaves room for the grace period and a minute of polling and KillWait.
    out.timeLimitMinutes = Math.ceil((limitMs + killGraceMs) / 60_000) + 1;
  }
  return out;
}

/** The job's environment: the exported variables of this process, then the step's (which win). */
export function jobEnvironment(
  spec: ProcessSpec,
  exported: EnvironmentExport,
  source: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = {};
  const names =
    exported === 'all' ? Object.keys(source) : exported === 'minimal' ? MINIMAL_ENVIRONMENT : exported;
  for (const name of names) {
    const value = source[name];
    if (value !== undefined && !NEVER_EXPORTED.has(name)) env[name] = value;
  }
  for (const [name, value] of Object.entries(spec.env ?? {})) {
    if (name === '' || name.includes('=') || name.includes('\0') || value.includes('\0')) {
      throw new SlurmError(
        'SLURM_SPEC_UNSUPPORTED',
        `environment variable ${JSON.stringify(name)}: a name must be non-empty without "=" or NUL, and a value without NUL`,
        { details: { name } },
      );
    }
    // Own-property writes: a step may name a variable __proto__ and it stays a variable.
    Object.defineProperty(env, name, { value, enumerable: true, writable: true, configurable: true });
  }
  // Slurm refuses a job without an environment; PATH is the least a batch script needs.
  if (Object.keys(env).length === 0) env.PATH = '/usr/local/bin:/usr/bin:/bin';
  return env;
}

/** Refuses what a Slurm job cannot honour (container fields), as core's local runner does. */
export function refuseUnsupported(spec: ProcessSpec): void {
  const unsupported = (['image', 'mounts', 'network', 'user'] as const).filter(
    (key) => spec[key] !== undefined,
  );
  if (unsupported.length > 0) {
    throw new SlurmError(
      'SLURM_SPEC_UNSUPPORTED',
      `the Slurm runner runs processes on cluster nodes and cannot honour ${unsupported.join(', ')} (run containers with apptainer or podman inside the step's command)`,
      { details: { fields: unsupported } },
    );
  }
  if (spec.argv.length === 0 || spec.argv[0] === '') {
    throw new SlurmError('SLURM_SPEC_UNSUPPORTED', 'the process spec has no program (argv is empty)');
  }
  if (spec.argv.some((arg) => arg.includes('\0'))) {
    throw new SlurmError(
      'SLURM_SPEC_UNSUPPORTED',
      'an argument contains a NUL byte, which no program can receive',
    );
  }
}
