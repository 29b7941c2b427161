import { escapeText, quoteText } from '@beamline/core';
import { parseImageRef } from '@beamline/plugin-docker';
import { accessSync, constants, mkdirSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { AliceError } from '../errors/alice-error.js';

/** Which commands the stages run. */
export type StageSet = 'pidml' | 'standin';

/** A validated agent configuration: the Go module's nine variables plus Beamline's optional ones. */
export interface AgentConfig {
  /** `MACHINE_ID`: the id shown at registration, digits only (as the server's `ParseUint` accepts). */
  readonly machineId: string;
  /** `MACHINE_SECRET_KEY`: sent as the `Secret-Id` header. Never logged. */
  readonly secretKey: string;
  /** `ALICETRAINT_BASE_URL`, without a trailing slash. */
  readonly baseUrl: string;
  /** `ALICETRAINT_DATA_DIR_PATH`: per-task work folders, the grid cache and the agent's state. */
  readonly dataDir: string;
  /** `ALICETRAINT_SCRIPTS_DIR_PATH`: the stage scripts. */
  readonly scriptsDir: string;
  /** `ALICETRAINT_VENV_DIR_PATH`: the Python venv of `pdi`. */
  readonly venvDir: string;
  /** `ALICETRAINT_RESULTS_DIR_PATH`: per-task outputs to upload. */
  readonly resultsDir: string;
  /** `ALICETRAINT_PDI_SRC_DIR_PATH`: the `pdi` sources. */
  readonly pdiSrcDir: string;
  /** `ALICETRAINT_POOLING_WAIT_SECONDS`, in milliseconds: the wait after a poll that found nothing. */
  readonly pollWaitMs: number;
  /** `ALICETRAINT_STAGES`: `pidml` (the real O2Physics/pdi commands, default) or `standin` (the example's scripts). */
  readonly stages: StageSet;
  /** `ALICETRAINT_HEARTBEAT_SECONDS`, in ms: heartbeats during a task, to a coordinator that takes them (default 30 s). */
  readonly heartbeatMs: number;
  /** `ALICETRAINT_GPUS`: GPU ids for the stages (default: `CUDA_VISIBLE_DEVICES`, else detected). */
  readonly gpus: readonly string[] | undefined;
  /** `ALICETRAINT_GRID_REPLICA_URLS`: storage base URLs an AOD's path is appended to (tried in order). */
  readonly replicaBaseUrls: readonly string[];
  /** `ALICETRAINT_GRID_CACHE_DIR_PATH`: the content cache of downloaded AODs (default `<data>/grid-cache`). */
  readonly gridCacheDir: string;
  /**
   * `ALICETRAINT_STAGE_IMAGE`: when set, the stages after the download run in containers of this image
   * (`runner: docker`), as the agent's uid:gid, with the task's GPU ids; unset, they run on the host.
   */
  readonly stageImage: string | undefined;
}

/** Where the configuration comes from. */
export interface LoadConfigOptions {
  /** The process environment (default `process.env`); it wins over the `.env` file, as in the Go module. */
  readonly env?: NodeJS.ProcessEnv;
  /** A `.env` file; default `<cwd>/.env` when it exists. An explicitly named file must exist. */
  readonly envFile?: string;
  /** Relative paths are resolved against this (default `process.cwd()`). */
  readonly cwd?: string;
  /**
   * Mock mode (no grid, no O2Physics): the storage and stage variables are not needed; the data and
   * results folders still are.
   */
  readonly mock?: boolean;
  /** The agent's uid (default `process.getuid()`): stages in containers run as it, so root is refused. */
  readonly uid?: number;
}

/** The nine variables of the Go module, in its order. */
export const GO_MODULE_VARIABLES = [
  'MACHINE_ID',
  'MACHINE_SECRET_KEY',
  'ALICETRAINT_BASE_URL',
  'ALICETRAINT_DATA_DIR_PATH',
  'ALICETRAINT_SCRIPTS_DIR_PATH',
  'ALICETRAINT_VENV_DIR_PATH',
  'ALICETRAINT_RESULTS_DIR_PATH',
  'ALICETRAINT_PDI_SRC_DIR_PATH',
  'ALICETRAINT_POOLING_WAIT_SECONDS',
] as const;

const MAX_UINT64 = 18446744073709551615n;
const MAX_WAIT_SECONDS = 86_400;

/**
 * Reads and validates the agent's configuration from the environment and a `.env` file. Every problem
 * is collected and reported at once in one `ALICE_CONFIG_INVALID` error naming each variable, where it
 * came from and what was expected (the secret's value is never quoted). Creates the data, results and
 * grid cache folders when missing. Nothing here talks to the server.
 */
export function loadAgentConfig(options: LoadConfigOptions = {}): AgentConfig {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const fileValues = readEnvFile(options.envFile, cwd);
  const problems: string[] = [];
  const source = (name: string): string =>
    env[name] !== undefined ? 'environment' : fileValues.file !== undefined ? fileValues.file : '';
  const raw = (name: string): string | undefined => env[name] ?? fileValues.values[name];
  const fail = (name: string, what: string): undefined => {
    const from = source(name);
    problems.push(`${name}${from ? ` (from ${from})` : ''}: ${what}`);
    return undefined;
  };
  const required = (name: string): string | undefined => {
    const value = raw(name);
    if (value === undefined) return fail(name, 'is not set');
    if (value.trim() === '') return fail(name, 'is empty');
    return value;
  };

  const machineId = checkMachineId(required('MACHINE_ID'), (w) => fail('MACHINE_ID', w));
  const secretKey = checkSecret(required('MACHINE_SECRET_KEY'), (w) => fail('MACHINE_SECRET_KEY', w));
  const baseUrl = checkBaseUrl(required('ALICETRAINT_BASE_URL'), (w) => fail('ALICETRAINT_BASE_URL', w));
  const dir = (name: string, kind: 'create' | 'exists' | 'path'): string | undefined =>
    checkDir(required(name), cwd, kind, (w) => fail(name, w));
  const mock = options.mock === true;
  const stages = checkEnum(raw('ALICETRAINT_STAGES') ?? 'pidml', ['pidml', 'standin'] as const, (w) =>
    fail('ALICETRAINT_STAGES', w),
  );
  const realStages = !mock && stages === 'pidml';
  const dataDir = dir('ALICETRAINT_DATA_DIR_PATH', 'create');
  const scriptsDir = dir('ALICETRAINT_SCRIPTS_DIR_PATH', mock ? 'path' : 'exists');
  const venvDir = dir('ALICETRAINT_VENV_DIR_PATH', realStages ? 'exists' : 'path');
  const resultsDir = dir('ALICETRAINT_RESULTS_DIR_PATH', 'create');
  const pdiSrcDir = dir('ALICETRAINT_PDI_SRC_DIR_PATH', realStages ? 'exists' : 'path');
  const pollWaitMs = checkSeconds(required('ALICETRAINT_POOLING_WAIT_SECONDS'), (w) =>
    fail('ALICETRAINT_POOLING_WAIT_SECONDS', w),
  );

  const heartbeatRaw = raw('ALICETRAINT_HEARTBEAT_SECONDS');
  const heartbeatMs =
    heartbeatRaw === undefined
      ? 30_000
      : checkSeconds(heartbeatRaw, (w) => fail('ALICETRAINT_HEARTBEAT_SECONDS', w));
  if (heartbeatMs === 0) fail('ALICETRAINT_HEARTBEAT_SECONDS', 'must be more than 0');
  const gpus = checkGpus(raw('ALICETRAINT_GPUS'), (w) => fail('ALICETRAINT_GPUS', w));
  const replicaBaseUrls = checkReplicaUrls(raw('ALICETRAINT_GRID_REPLICA_URLS'), mock, (w) =>
    fail('ALICETRAINT_GRID_REPLICA_URLS', w),
  );
  const cacheRaw = raw('ALICETRAINT_GRID_CACHE_DIR_PATH');
  const gridCacheDir =
    cacheRaw === undefined
      ? dataDir === undefined
        ? undefined
        : ensureDir(resolve(dataDir, 'grid-cache'), (w) => fail('ALICETRAINT_DATA_DIR_PATH', w))
      : checkDir(cacheRaw, cwd, 'create', (w) => fail('ALICETRAINT_GRID_CACHE_DIR_PATH', w));

  // Mock mode runs no stage process: the image is not used.
  const stageImage = mock
    ? undefined
    : checkStageImage(raw('ALICETRAINT_STAGE_IMAGE'), options.uid ?? process.getuid?.(), (w) =>
        fail('ALICETRAINT_STAGE_IMAGE', w),
      );

  if (problems.length > 0) {
    const where = fileValues.file ? `the environment and ${fileValues.file}` : 'the environment';
    throw new AliceError(
      'ALICE_CONFIG_INVALID',
      `AliceTraINT agent configuration (from ${where}): ${problems.length === 1 ? 'one problem' : `${problems.length} problems`}:\n` +
        problems.map((p) => `  - ${p}`).join('\n'),
      { details: { problems } },
    );
  }
  return {
    machineId: machineId!,
    secretKey: secretKey!,
    baseUrl: baseUrl!,
    dataDir: dataDir!,
    scriptsDir: scriptsDir!,
    venvDir: venvDir!,
    resultsDir: resultsDir!,
    pdiSrcDir: pdiSrcDir!,
    pollWaitMs: pollWaitMs!,
    stages: stages!,
    heartbeatMs: heartbeatMs!,
    gpus,
    replicaBaseUrls: replicaBaseUrls ?? [],
    gridCacheDir: gridCacheDir!,
    stageImage,
  };
}

function readEnvFile(
  envFile: string | undefined,
  cwd: string,
): { file: string | undefined; values: Record<string, string> } {
  const file = resolve(cwd, envFile ?? '.env');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (envFile === undefined && code === 'ENOENT') return { file: undefined, values: {} };
    throw new AliceError(
      'ALICE_CONFIG_INVALID',
      `cannot read the .env file ${quoteText(file)}: ${code ?? String(error)}`,
      {
        cause: error,
        details: { file },
      },
    );
  }
  // Node's own dotenv parser (the format of `node --env-file`): KEY=value, quotes, # comments.
  return { file, values: parseEnv(text) as Record<string, string> };
}

function checkMachineId(value: string | undefined, fail: (what: string) => undefined): string | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (!/^[0-9]+$/.test(v)) {
    return fail(
      `expected the machine's numeric id shown at registration (digits only), got ${quoteText(value)}`,
    );
  }
  if (BigInt(v) > MAX_UINT64) return fail(`${quoteText(value)} is larger than an unsigned 64-bit id`);
  return v;
}

function checkSecret(value: string | undefined, fail: (what: string) => undefined): string | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  // It travels as an HTTP header value: visible ASCII only. The value is never quoted back.
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) {
      return fail(
        `character ${i + 1} of ${v.length} is ${c === 0x20 ? 'a space' : c < 0x20 || c === 0x7f ? 'a control character' : 'not ASCII'}; the secret shown at registration is visible ASCII only`,
      );
    }
  }
  return v;
}

function checkBaseUrl(value: string | undefined, fail: (what: string) => undefined): string | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    return fail(`expected the web interface's URL such as http://localhost:8088, got ${quoteText(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return fail(`expected an http:// or https:// URL, got the scheme ${quoteText(url.protocol)}`);
  }
  if (url.username !== '' || url.password !== '') {
    return fail(
      'must not contain a user name or password (the machine authenticates with MACHINE_SECRET_KEY)',
    );
  }
  if (url.search !== '' || url.hash !== '') {
    return fail(`must not have a query or fragment, got ${quoteText(value)}`);
  }
  return url.href.replace(/\/+$/, '');
}

function checkDir(
  value: string | undefined,
  cwd: string,
  kind: 'create' | 'exists' | 'path',
  fail: (what: string) => undefined,
): string | undefined {
  if (value === undefined) return undefined;
  if (value.includes('\0')) return fail('contains a NUL character');
  const path = resolve(cwd, value.trim());
  if (kind === 'path') return path;
  if (kind === 'create') return ensureDir(path, fail);
  const st = statSync(path, { throwIfNoEntry: false });
  if (st === undefined) return fail(`${quoteText(path)} does not exist`);
  if (!st.isDirectory()) return fail(`${quoteText(path)} is not a folder`);
  return path;
}

function ensureDir(path: string, fail: (what: string) => undefined): string | undefined {
  try {
    mkdirSync(path, { recursive: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return fail(
      code === 'EEXIST' || code === 'ENOTDIR'
        ? `${quoteText(path)} is not a folder`
        : `cannot create the folder ${quoteText(path)}: ${code ?? String(error)}`,
    );
  }
  if (!statSync(path).isDirectory()) return fail(`${quoteText(path)} is not a folder`);
  try {
    accessSync(path, constants.W_OK | constants.X_OK);
  } catch {
    return fail(`the folder ${quoteText(path)} is not writable`);
  }
  return path;
}

function checkSeconds(value: string | undefined, fail: (what: string) => undefined): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (!/^[0-9]+(\.[0-9]+)?$/.test(v)) {
    return fail(
      `expected a number of seconds such as 20 (a plain non-negative number, no unit), got ${quoteText(value)}`,
    );
  }
  const seconds = Number(v);
  if (seconds > MAX_WAIT_SECONDS) return fail(`${v} seconds is more than a day (${MAX_WAIT_SECONDS})`);
  return Math.round(seconds * 1000);
}

function checkEnum<const T extends string>(
  value: string,
  allowed: readonly T[],
  fail: (what: string) => undefined,
): T | undefined {
  const v = value.trim() as T;
  if (allowed.includes(v)) return v;
  return fail(`expected one of ${allowed.join(', ')}, got ${quoteText(value)}`);
}

function checkGpus(value: string | undefined, fail: (what: string) => undefined): string[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const ids = value.split(',').map((s) => s.trim());
  const bad = ids.find((id) => !/^[0-9A-Za-z-]+$/.test(id));
  if (bad !== undefined) {
    return fail(
      `expected GPU ids separated by commas such as 0,1 or GPU-uuid, got ${quoteText(escapeText(value))}`,
    );
  }
  return ids;
}

function checkStageImage(
  value: string | undefined,
  uid: number | undefined,
  fail: (what: string) => undefined,
): string | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  try {
    parseImageRef(value);
  } catch (error) {
    return fail(
      `${(error as Error).message} (expected an image with a tag, such as alicetraint-standin:1.0)`,
    );
  }
  if (uid === 0) {
    return fail(
      "the agent runs as root, and its stages run in containers as the agent's uid:gid: they would write " +
        "the host's data and results folders as root; run the agent as the user who owns those folders",
    );
  }
  return value;
}

function checkReplicaUrls(
  value: string | undefined,
  mock: boolean,
  fail: (what: string) => undefined,
): string[] | undefined {
  if (value === undefined || value.trim() === '') {
    if (mock) return [];
    return fail(
      'is not set: the storage base URLs (http(s):// or root://) an AOD path is appended to, separated by spaces',
    );
  }
  const urls: string[] = [];
  for (const part of value.trim().split(/\s+/)) {
    let url: URL;
    try {
      url = new URL(part);
    } catch {
      return fail(`${quoteText(part)} is not a URL`);
    }
    if (!['http:', 'https:', 'root:', 'xroot:'].includes(url.protocol)) {
      return fail(`${quoteText(part)}: expected http://, https:// or root://`);
    }
    urls.push(part.replace(/\/+$/, ''));
  }
  return urls;
}
