import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ContainerSpecInput } from '@beamline/plugin-docker';
import { CliError } from '../cli-error.js';

/** `--memory`: a plain number is GB (as `ces-run -m`); `512m`, `4g` take a unit. Returns MiB. */
export function parseMemory(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([mg]?)b?$/i.exec(value.trim());
  if (!m) throw new CliError('CLI_USAGE', `--memory must be GB (4) or a size like 512m or 8g, got "${value}"`);
  const n = Number(m[1]);
  const mib = m[2]?.toLowerCase() === 'm' ? n : n * 1024;
  if (!(mib >= 6)) throw new CliError('CLI_USAGE', `--memory must be at least 6m, got "${value}"`);
  return Math.round(mib);
}

/** `--timeout`: seconds (`90`), or with a unit (`90s`, `30m`, `2h`). Returns ms. */
export function parseDuration(value: string): number {
  const m = /^(\d+(?:\.\d+)?)([smh]?)$/.exec(value.trim());
  if (!m) throw new CliError('CLI_USAGE', `--timeout must be seconds or a duration like 30m or 2h, got "${value}"`);
  const unit = { '': 1000, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? '') as '' | 's' | 'm' | 'h'];
  const ms = Math.round(Number(m[1]) * unit);
  if (ms <= 0) throw new CliError('CLI_USAGE', `--timeout must be positive, got "${value}"`);
  return ms;
}

/** `--cpus`: a positive number of cores. */
export function parseCpus(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new CliError('CLI_USAGE', `--cpus must be a positive number, got "${value}"`);
  return n;
}

/** `--gpus`: `all` or explicit device ids (`0,2` or UUIDs); a bare count is refused, it would always mean GPU 0..n-1. */
export function parseGpus(value: string): string[] | 'all' {
  if (value === 'all') return 'all';
  const ids = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (ids.length === 0 || ids.some((id) => !/^[A-Za-z0-9-]+$/.test(id))) {
    throw new CliError('CLI_USAGE', `--gpus must be "all" or device ids like 0,2, got "${value}"`);
  }
  return ids;
}

/**
 * Reads a docker-style env file: `KEY=VALUE` per line (taken literally, no quote processing), `KEY`
 * alone takes the value from the environment, `#` comments and blank lines are skipped.
 */
export async function readEnvFile(path: string, env: NodeJS.ProcessEnv): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new CliError('CLI_NOT_FOUND', `--env-file ${path} cannot be read: ${(error as Error).message}`, { cause: error });
  }
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    const key = eq < 0 ? line : line.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new CliError('CLI_USAGE', `--env-file ${path}: invalid line "${raw}"`);
    if (eq >= 0) out[key] = line.slice(eq + 1);
    else if (env[key] !== undefined) out[key] = env[key];
  }
  return out;
}

/** The options `beamline container run` accepts. */
export interface RunValues {
  profile?: string | undefined;
  gpus?: string | undefined;
  cpus?: string | undefined;
  memory?: string | undefined;
  name?: string | undefined;
  'env-file'?: string[] | undefined;
  env?: string[] | undefined;
  data?: string | undefined;
  outputs?: string | undefined;
  timeout?: string | undefined;
  user?: string | undefined;
  workdir?: string | undefined;
  network?: string | undefined;
}

/** Turns parsed `run` options into a container spec (paths resolved against the working directory). */
export async function runSpec(image: string, args: string[], v: RunValues, cwd: string, env: NodeJS.ProcessEnv): Promise<ContainerSpecInput> {
  const vars: Record<string, string> = {};
  for (const file of v['env-file'] ?? []) Object.assign(vars, await readEnvFile(resolve(cwd, file), env));
  for (const pair of v.env ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CliError('CLI_USAGE', `--env must be KEY=VALUE, got "${pair}"`);
    vars[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const spec: ContainerSpecInput = { image };
  if (args.length > 0) spec.cmd = args;
  if (Object.keys(vars).length > 0) spec.env = vars;
  if (v.profile !== undefined) spec.profile = v.profile;
  if (v.gpus !== undefined) spec.gpus = parseGpus(v.gpus);
  if (v.cpus !== undefined) spec.cpus = parseCpus(v.cpus);
  if (v.memory !== undefined) spec.memoryMb = parseMemory(v.memory);
  if (v.name !== undefined) spec.name = v.name;
  if (v.data !== undefined) spec.data = resolve(cwd, v.data);
  if (v.outputs !== undefined) spec.outputs = resolve(cwd, v.outputs);
  if (v.timeout !== undefined) spec.timeoutMs = parseDuration(v.timeout);
  if (v.user !== undefined) spec.user = v.user;
  if (v.workdir !== undefined) spec.workdir = v.workdir;
  if (v.network !== undefined) spec.network = v.network;
  return spec;
}
