import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseDuration, parseMemory } from '@beamline/core';
import { InvalidArgumentError } from '@commander-js/extra-typings';
import type { ContainerSpecInput } from '@beamline/plugin-docker';
import { CliError } from '../cli-error.js';

const BARE_NUMBER = /^\s*\d+(?:\.\d+)?\s*$/;

/** Docker refuses a smaller memory limit. */
const MIN_MEMORY_MIB = 6;

/**
 * `-m, --memory`: core's memory sizes (`512m`, `8g`, `4GiB`), except that a bare number is GB, as
 * `ces-run -m` reads it: `beamline container run` is its drop-in, and this is the one place where the
 * unit differs from core's (where a bare number is MiB). Returns MiB.
 */
export function parseMemoryFlag(value: string): number {
  const text = value.trim();
  const mib = parseMemory(BARE_NUMBER.test(text) ? `${text}g` : text);
  if (mib === undefined) {
    throw new InvalidArgumentError(
      'expected GB as a bare number (4, as ces-run -m) or a size like 512m or 8g.',
    );
  }
  if (mib < MIN_MEMORY_MIB) throw new InvalidArgumentError(`Docker needs at least ${MIN_MEMORY_MIB}m.`);
  return mib;
}

/**
 * `--timeout`: core's durations (`90s`, `30m`, `1h30m`). A bare number is refused rather than read as
 * core's milliseconds: people coming from `timeout 90` or this flag's earlier form mean seconds. Returns ms.
 */
export function parseTimeout(value: string): number {
  const ms = BARE_NUMBER.test(value) ? undefined : parseDuration(value);
  if (ms === undefined)
    throw new InvalidArgumentError('expected a duration with a unit, like 90s, 30m or 1h30m.');
  return ms;
}

/** `--cpus`: a positive number of cores. */
export function parseCpus(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError('expected a positive number of cores.');
  }
  return n;
}

/**
 * `--gpus`: `all` or explicit device ids (`0,2` or UUIDs). A bare count is refused: Docker would always
 * hand out GPUs 0..n-1, so two jobs would share a card.
 */
export function parseGpus(value: string): string[] | 'all' {
  if (value === 'all') return 'all';
  const ids = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (ids.length === 0 || ids.some((id) => !/^[A-Za-z0-9-]+$/.test(id))) {
    throw new InvalidArgumentError('expected "all" or device ids like 0,2.');
  }
  return ids;
}

/**
 * Reads a docker-style env file: `KEY=VALUE` per line (taken literally, no quote processing), `KEY`
 * alone takes the value from the environment, `#` comments and blank lines are skipped.
 */
async function readEnvFile(path: string, env: NodeJS.ProcessEnv): Promise<[string, string][]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new CliError('CLI_NOT_FOUND', `--env-file ${path} cannot be read: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const out: [string, string][] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    const key = eq < 0 ? line : line.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      throw new CliError('CLI_USAGE', `--env-file ${path}: invalid line "${raw}"`);
    }
    // Own properties only: `constructor` alone is a variable of the environment or nothing, never
    // `Object.prototype.constructor`.
    const value = eq >= 0 ? line.slice(eq + 1) : Object.hasOwn(env, key) ? env[key] : undefined;
    if (value !== undefined) out.push([key, value]);
  }
  return out;
}

/** The parsed options of `beamline container run`. */
export interface ContainerRunOptions {
  profile?: string | undefined;
  gpus?: string[] | 'all' | undefined;
  cpus?: number | undefined;
  /** MiB. */
  memory?: number | undefined;
  name?: string | undefined;
  envFile?: string[] | undefined;
  env?: Record<string, string> | undefined;
  data?: string | undefined;
  outputs?: string | undefined;
  /** ms. */
  timeout?: number | undefined;
  user?: string | undefined;
  workdir?: string | undefined;
  network?: string | undefined;
}

/** Turns the options into a container spec: paths resolved against `cwd`, env files read, `--env` on top. */
export async function runSpec(
  image: string,
  command: readonly string[],
  options: ContainerRunOptions,
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<ContainerSpecInput> {
  const entries: [string, string][] = [];
  for (const file of options.envFile ?? []) entries.push(...(await readEnvFile(resolve(cwd, file), env)));
  entries.push(...Object.entries(options.env ?? {}));
  // Later entries win; fromEntries keeps every name as data (`__proto__` is then refused by the spec check).
  const vars = Object.fromEntries(entries);
  const spec: ContainerSpecInput = { image };
  if (command.length > 0) spec.cmd = [...command];
  if (Object.keys(vars).length > 0) spec.env = vars;
  if (options.profile !== undefined) spec.profile = options.profile;
  if (options.gpus !== undefined) spec.gpus = options.gpus;
  if (options.cpus !== undefined) spec.cpus = options.cpus;
  if (options.memory !== undefined) spec.memoryMb = options.memory;
  if (options.name !== undefined) spec.name = options.name;
  if (options.data !== undefined) spec.data = resolve(cwd, options.data);
  if (options.outputs !== undefined) spec.outputs = resolve(cwd, options.outputs);
  if (options.timeout !== undefined) spec.timeoutMs = options.timeout;
  if (options.user !== undefined) spec.user = options.user;
  if (options.workdir !== undefined) spec.workdir = options.workdir;
  if (options.network !== undefined) spec.network = options.network;
  return spec;
}
