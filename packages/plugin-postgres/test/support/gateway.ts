import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GatewayOptions, StartWorkerOptions } from '../../src/index.js';

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));
const tsconfig = fileURLToPath(new URL('../../tsconfig.scripts.json', import.meta.url));

/** A process started from a fixture, with what it printed. */
export interface FixtureProcess {
  child: ChildProcess;
  /** What follows `ready ` in its first such line (a worker's name, a gateway's URL). */
  ready: string;
  lines: string[];
}

/** A self-signed certificate for `addresses` (IPs), made with openssl in `dir`: `{ cert, key }` PEM. */
export function selfSignedCertificate(
  dir: string,
  addresses: readonly string[],
): { cert: string; key: string } {
  const cert = path.join(dir, 'gateway.crt');
  const key = path.join(dir, 'gateway.key');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=beamline-test-gateway',
      '-addext',
      `subjectAltName=${addresses.map((address) => `IP:${address}`).join(',')}`,
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'pipe' },
  );
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

/** Starts a fixture (`gateway-process.ts`, `worker-process.ts`) with JSON options; resolves once it is ready. */
export async function startFixture(
  fixture: 'gateway-process.ts' | 'worker-process.ts',
  options: GatewayOptions | StartWorkerOptions,
  env: NodeJS.ProcessEnv = {},
  wrap: readonly string[] = [],
): Promise<FixtureProcess> {
  const argv = [
    process.execPath,
    '--conditions=source',
    '--import',
    'tsx',
    path.join(fixtures, fixture),
    JSON.stringify(options),
  ];
  const [program, ...args] = [...wrap, ...argv];
  const child = spawn(program!, args, {
    cwd: fixtures,
    env: { ...process.env, TSX_TSCONFIG_PATH: tsconfig, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const entry: FixtureProcess = { child, ready: '', lines: [] };
  let partial = '';
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      partial += chunk.toString();
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        entry.lines.push(line);
        if (entry.ready === '' && line.startsWith('ready ')) {
          entry.ready = line.slice('ready '.length);
          resolve();
        }
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      entry.lines.push(...chunk.toString().split('\n').filter(Boolean));
    });
    child.once('exit', (code) =>
      reject(new Error(`${fixture} exited (${code}) before it was ready: ${stderr}`)),
    );
  });
  return entry;
}

/** Waits for a process to exit; kills it (SIGKILL) if it is still there. */
export function kill(processes: readonly FixtureProcess[]): void {
  for (const { child } of processes) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
