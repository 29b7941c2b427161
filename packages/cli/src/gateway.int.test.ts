import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRuntime } from '@beamline/core';
import { requireService } from '@beamline/core/testing';
import {
  createPostgresPlugin,
  GatewayTokens,
  PostgresStore,
  startGateway,
  type StartedGateway,
} from '@beamline/plugin-postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from './main.js';
import { createFakeIO } from './testing/fake-io.js';

// `beamline gateway` and `beamline worker --gateway` against the real PostgreSQL of
// packages/plugin-postgres/scripts/setup-test-env.sh, as separate processes.

const URL_ =
  process.env.BEAMLINE_TEST_POSTGRES_URL ?? 'postgres://beamline:beamline@127.0.0.1:5432/beamline_test';
const BIN = fileURLToPath(new URL('./bin.ts', import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const TSCONFIG = fileURLToPath(new URL('../../../tsconfig.base.json', import.meta.url));

async function reachable(): Promise<boolean> {
  try {
    await (await PostgresStore.open({ url: URL_, connectTimeoutMs: 5_000 })).close();
    return true;
  } catch {
    return false;
  }
}

const available = requireService(
  'PostgreSQL',
  await reachable(),
  'Run packages/plugin-postgres/scripts/setup-test-env.sh as root, or set BEAMLINE_TEST_POSTGRES_URL.',
);

/** Starts `beamline …` as a process; resolves once its output contains `ready`. */
async function beamline(
  args: string[],
  cwd: string,
  ready: string,
): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', TSX, BIN, ...args], {
    cwd,
    env: { ...process.env, TSX_TSCONFIG_PATH: TSCONFIG },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let said = '';
  child.stdout?.on('data', (chunk: Buffer) => (said += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (said += chunk.toString()));
  const deadline = Date.now() + 60_000;
  while (!said.includes(ready)) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`beamline ${args[0]} did not start: ${said}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { child, output: () => said };
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('close', (code) => resolve(code)));
}

describe.skipIf(!available)('beamline gateway and beamline worker --gateway', () => {
  let dir: string;
  const children: ChildProcess[] = [];
  const name = `cli-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beamline-cli-gateway-'));
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
        '/CN=beamline-cli-test',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'gateway.key'),
        '-out',
        join(dir, 'gateway.crt'),
      ],
      { stdio: 'pipe' },
    );
  });

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('token add prints a token once, list shows names and never tokens, revoke refuses it; bad names and flags are clear errors', async () => {
    const add = createFakeIO({ cwd: dir });
    expect(await main(['gateway', 'token', 'add', name, '--queue', URL_], add)).toBe(0);
    const token = add.stdout.text.trim();
    expect(token).toMatch(/^blg_[A-Za-z0-9_-]{43}$/);
    expect(add.stderr.text).toContain('shown only this once');

    const again = createFakeIO({ cwd: dir });
    expect(await main(['gateway', 'token', 'add', name, '--queue', URL_], again)).toBe(1);
    expect(again.stderr.text).toContain('exists already');

    const bad = createFakeIO({ cwd: dir });
    expect(await main(['gateway', 'token', 'add', '../x', '--queue', URL_], bad)).not.toBe(0);
    expect(bad.stderr.text).toContain('token name: expected');

    const list = createFakeIO({ cwd: dir, env: { ...process.env, BEAMLINE_QUEUE: URL_ } });
    expect(await main(['gateway', 'token', 'list'], list)).toBe(0);
    expect(list.stdout.text).toMatch(new RegExp(`^${name}\\tactive\\tcreated `, 'm'));
    expect(list.stdout.text).not.toContain(token);

    // The gateway started from the command line serves the token's holder, and refuses it once revoked.
    await writeFile(join(dir, 'token'), `${token}\n`);
    const gateway = await beamline(
      [
        'gateway',
        '--queue',
        URL_,
        '--listen',
        '127.0.0.1:0',
        '--cert',
        'gateway.crt',
        '--key',
        'gateway.key',
      ],
      dir,
      'gateway listening on https://',
    );
    children.push(gateway.child);
    const url = /gateway listening on (https:\/\/\S+)/.exec(gateway.output())![1]!;
    const ca = await readFile(join(dir, 'gateway.crt'));
    const status = (secret: string) =>
      new Promise<number>((resolve, reject) => {
        https
          .get(
            new URL('/v1/queues', url),
            { ca, headers: { authorization: `Bearer ${secret}` } },
            (response) => {
              response.resume();
              resolve(response.statusCode ?? 0);
            },
          )
          .on('error', reject);
      });
    expect(await status(token)).toBe(200);

    const revoke = createFakeIO({ cwd: dir });
    expect(await main(['gateway', 'token', 'revoke', name, '--queue', URL_], revoke)).toBe(0);
    expect(await status(token)).toBe(401);
    const twice = createFakeIO({ cwd: dir });
    expect(await main(['gateway', 'token', 'revoke', name, '--queue', URL_], twice)).toBe(2);
    expect(twice.stderr.text).toContain('no active gateway token');

    // A worker with the revoked token stops at start, saying why.
    const refused = createFakeIO({ cwd: dir });
    expect(
      await main(['worker', '--gateway', url, '--token-file', 'token', '--ca', 'gateway.crt'], refused),
    ).toBe(1);
    expect(refused.stderr.text).toContain("refused this worker's token");
    expect(refused.stderr.text).not.toContain(token);

    gateway.child.kill('SIGTERM');
    expect(await exited(gateway.child)).toBe(0);
    expect(gateway.output()).not.toContain(token);

    for (const [args, message] of [
      [['worker', '--gateway', url], '--token-file'],
      [['worker', '--gateway', url, '--queue', URL_, '--token-file', 'token'], 'not both'],
      [['worker', '--queue', URL_, '--ca', 'gateway.crt'], 'go with --gateway'],
      [['worker', '--gateway', url, '--token-file', 'missing'], 'cannot read it'],
      [['gateway', '--queue', URL_], '--cert FILE and --key FILE'],
      [['gateway', '--queue', URL_, '--listen', 'nowhere'], 'host:port'],
    ] as const) {
      const io = createFakeIO({ cwd: dir });
      expect(await main([...args], io)).toBe(2);
      expect(io.stderr.text).toContain(message);
    }
  });

  it('beamline worker --gateway runs a step of a run through a gateway, over TLS, and stops cleanly', async () => {
    // A schema of this test's own, so that the worker takes only this run's step.
    const schema = `cli_gw_${randomBytes(4).toString('hex')}`;
    let gateway: StartedGateway | undefined;
    const store = await PostgresStore.open({ url: URL_, schema });
    const runtime = await createRuntime({
      store,
      cwd: dir,
      plugins: [createPostgresPlugin({ url: URL_, schema, lease: '10s', pollMs: 500 })],
    });
    try {
      const { tokens, close } = await GatewayTokens.open({ url: URL_, schema });
      const token = await tokens.add('cli-worker');
      await close();
      await writeFile(join(dir, 'worker.token'), token);
      gateway = await startGateway({
        url: URL_,
        schema,
        host: '127.0.0.1',
        port: 0,
        cert: await readFile(join(dir, 'gateway.crt')),
        key: await readFile(join(dir, 'gateway.key')),
      });
      const worker = await beamline(
        [
          'worker',
          '--gateway',
          gateway.url,
          '--token-file',
          'worker.token',
          '--ca',
          'gateway.crt',
          '--name',
          'cli-gw',
        ],
        dir,
        'waiting for steps',
      );
      children.push(worker.child);
      const run = await runtime.run({
        name: 'through-cli-gateway',
        steps: { hello: { uses: 'exec', with: { command: 'echo "::output via=gateway"' } } },
      });
      const result = await run.done;
      expect(result.status).toBe('succeeded');
      expect(result.steps.hello?.outputs).toMatchObject({ via: 'gateway' });
      expect(worker.output()).toContain('[worker cli-gw] claimed job');
      worker.child.kill('SIGTERM');
      expect(await exited(worker.child)).toBe(0);
    } finally {
      await gateway?.stop();
      await runtime.close();
      // psql comes with the server (the CLI does not depend on pg); best effort.
      try {
        execFileSync(
          'psql',
          [
            URL_,
            '-qc',
            `DROP SCHEMA IF EXISTS "${schema}" CASCADE; DROP SCHEMA IF EXISTS "${schema}_boss" CASCADE`,
          ],
          {
            stdio: 'pipe',
          },
        );
      } catch {
        // Left for the next clean-up of the test database.
      }
    }
  });
});
