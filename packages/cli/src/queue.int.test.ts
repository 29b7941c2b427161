import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { requireService } from '@beamline/core/testing';
import { PostgresStore } from '@beamline/plugin-postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from './main.js';
import { createFakeIO } from './testing/fake-io.js';

// `beamline run --queue` and `beamline worker` against the real PostgreSQL of
// packages/plugin-postgres/scripts/setup-test-env.sh; the worker is a second process, as on another host.

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

const PIPELINE = `
name: distributed
steps:
  gpu:
    uses: exec
    runs-on: gpu=a100
    with:
      command: "echo from-worker > where.txt; echo ran-remotely; echo '::output host=remote'"
      outputs: { where: where.txt }
  after:
    uses: exec
    with:
      command: "cat \${{ steps.gpu.outputs.where }}"
`;

describe.skipIf(!available)('beamline run --queue and beamline worker', () => {
  let dir: string;
  let worker: ChildProcess | undefined;
  const workerOutput = { stdout: '', stderr: '' };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beamline-cli-queue-'));
    await writeFile(join(dir, 'pipeline.yaml'), PIPELINE);
  });

  afterAll(async () => {
    if (worker && worker.exitCode === null) worker.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('a worker process runs the steps of a run started elsewhere; show reads the run from PostgreSQL', async () => {
    worker = spawn(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        TSX,
        BIN,
        'worker',
        '--queue',
        URL_,
        '--labels',
        'gpu=a100',
        '--name',
        'cli-test',
      ],
      { cwd: dir, env: { ...process.env, TSX_TSCONFIG_PATH: TSCONFIG }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    worker.stdout?.on('data', (chunk: Buffer) => (workerOutput.stdout += chunk.toString()));
    worker.stderr?.on('data', (chunk: Buffer) => (workerOutput.stderr += chunk.toString()));
    const deadline = Date.now() + 60_000;
    while (!workerOutput.stdout.includes('waiting for steps')) {
      if (Date.now() > deadline || worker.exitCode !== null)
        throw new Error(`worker did not start: ${workerOutput.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const io = createFakeIO({ cwd: dir });
    const code = await main(['run', '--queue', URL_, 'pipeline.yaml', '--json'], io);
    expect(io.stderr.text).toBe('');
    expect(code).toBe(0);
    const events = io.stdout.text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; runId: string; text?: string });
    const runId = events[0]!.runId;
    expect(events.some((event) => event.type === 'log' && event.text?.includes('ran-remotely'))).toBe(true);
    expect(events.at(-1)?.type).toBe('run-succeeded');
    expect(workerOutput.stderr).toContain('[worker cli-test] claimed job');

    // Anywhere with BEAMLINE_QUEUE set, show and logs read the run from PostgreSQL.
    const elsewhere = await mkdtemp(join(tmpdir(), 'beamline-cli-elsewhere-'));
    const show = createFakeIO({ cwd: elsewhere, env: { ...process.env, BEAMLINE_QUEUE: URL_ } });
    expect(await main(['show', runId], show)).toBe(0);
    expect(show.stdout.text).toContain('gpu');
    expect(show.stdout.text).toContain('succeeded');
    const logs = createFakeIO({ cwd: elsewhere, env: { ...process.env, BEAMLINE_QUEUE: URL_ } });
    expect(await main(['logs', runId, 'after'], logs)).toBe(0);
    expect(logs.stdout.text).toContain('from-worker');
    await rm(elsewhere, { recursive: true, force: true });

    worker.kill('SIGTERM');
    const exitCode = await new Promise<number | null>((resolve) => worker!.once('close', (c) => resolve(c)));
    expect(exitCode).toBe(0);
  });

  it('a step whose retries are spent is a dead letter: show marks it and lists each attempt, runs --dead-letters lists it', async () => {
    const deadWorker = spawn(
      process.execPath,
      ['--conditions=source', '--import', TSX, BIN, 'worker', '--queue', URL_, '--name', 'cli-dead'],
      { cwd: dir, env: { ...process.env, TSX_TSCONFIG_PATH: TSCONFIG }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      let err = '';
      deadWorker.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
      deadWorker.stdout?.on('data', (chunk: Buffer) => (err += chunk.toString()));
      const deadline = Date.now() + 60_000;
      while (!err.includes('waiting for steps')) {
        if (Date.now() > deadline || deadWorker.exitCode !== null)
          throw new Error(`worker did not start: ${err}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await writeFile(
        join(dir, 'flaky.yaml'),
        `name: flaky\nsteps:\n  fetch:\n    uses: exec\n    retry: { attempts: 2, initialDelayMs: 100 }\n    with:\n      command: "echo 'mirror down' >&2; exit 3"\n`,
      );
      const run = createFakeIO({ cwd: dir });
      expect(await main(['run', '--queue', URL_, 'flaky.yaml', '--json'], run)).toBe(1);
      const runId = (JSON.parse(run.stdout.text.split('\n')[0]!) as { runId: string }).runId;
      const env = { ...process.env, BEAMLINE_QUEUE: URL_ };

      const show = createFakeIO({ cwd: dir, env });
      expect(await main(['show', runId], show)).toBe(0);
      expect(show.stdout.text).toContain('dead letter: retries spent (2 attempts)');
      expect(show.stdout.text).toMatch(
        new RegExp(
          `attempt 1  retried  worker cli-dead  host ${hostname()}  job [0-9a-f]{8}  CORE_PROCESS_FAILED: .*exited with code 3`,
        ),
      );
      expect(show.stdout.text).toMatch(/attempt 2 {2}failed {2}worker cli-dead {2}host /);
      const json = createFakeIO({ cwd: dir, env });
      expect(await main(['show', runId, '--json'], json)).toBe(0);
      const details = JSON.parse(json.stdout.text) as {
        deadLetters: string[];
        attempts: Record<string, Array<{ worker?: string; status: string }>>;
      };
      expect(details.deadLetters).toEqual(['fetch']);
      expect(details.attempts.fetch?.map((a) => [a.worker, a.status])).toEqual([
        ['cli-dead', 'retried'],
        ['cli-dead', 'failed'],
      ]);

      // Across runs: the newest dead letters first, this one among them (other tests share the database).
      const list = createFakeIO({ cwd: dir, env });
      expect(await main(['runs', '--dead-letters', '--json', '-n', '100'], list)).toBe(0);
      const letters = list.stdout.text
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as { runId: string; stepId: string; attempts: unknown[] });
      expect(letters.find((letter) => letter.runId === runId)).toMatchObject({
        stepId: 'fetch',
        attempts: [{ worker: 'cli-dead' }, { worker: 'cli-dead' }],
      });
      const table = createFakeIO({ cwd: dir, env });
      expect(await main(['runs', '--dead-letters', '-n', '100'], table)).toBe(0);
      expect(table.stdout.text).toMatch(/^RUN +STEP +ATTEMPTS +FAILED +LAST WORKER +ERROR/);
      expect(table.stdout.text).toMatch(new RegExp(`${runId} +fetch +2 +.* cli-dead +CORE_PROCESS_FAILED`));
    } finally {
      deadWorker.kill('SIGKILL');
    }
  });

  it('live progress of a distributed run: run --queue and show --follow from elsewhere see every event once, in order', async () => {
    const liveWorker = spawn(
      process.execPath,
      ['--conditions=source', '--import', TSX, BIN, 'worker', '--queue', URL_, '--name', 'cli-live'],
      { cwd: dir, env: { ...process.env, TSX_TSCONFIG_PATH: TSCONFIG }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      let said = '';
      liveWorker.stderr?.on('data', (chunk: Buffer) => (said += chunk.toString()));
      liveWorker.stdout?.on('data', (chunk: Buffer) => (said += chunk.toString()));
      const deadline = Date.now() + 60_000;
      while (!said.includes('waiting for steps')) {
        if (Date.now() > deadline || liveWorker.exitCode !== null)
          throw new Error(`worker did not start: ${said}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await writeFile(
        join(dir, 'live.yaml'),
        [
          'name: live',
          'steps:',
          '  count:',
          '    uses: exec',
          '    with:',
          `      command: 'for i in 1 2 3 4 5; do echo "::progress $i/5 part $i"; echo "line-$i"; sleep 0.3; done # ${Date.now()}-${Math.random()}'`,
          '  after:',
          '    uses: exec',
          '    needs: [count]',
          '    with:',
          // Never a cached result of an earlier test run on the same database.
          `      command: 'echo after-count # ${Date.now()}-${Math.random()}'`,
          '',
        ].join('\n'),
      );
      const runIo = createFakeIO({ cwd: dir });
      const running = main(['run', '--queue', URL_, 'live.yaml', '--json'], runIo);
      const started = Date.now();
      while (!runIo.stdout.text.includes('\n')) {
        if (Date.now() - started > 60_000) throw new Error('the run did not start');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const runId = (JSON.parse(runIo.stdout.text.split('\n')[0]!) as { runId: string }).runId;
      const env = { ...process.env, BEAMLINE_QUEUE: URL_ };
      // Another process's view (another folder, the store in PostgreSQL), from while the run is young.
      const followIo = createFakeIO({ cwd: tmpdir(), env });
      const [runCode, followCode] = await Promise.all([
        running,
        main(['show', runId.slice(-6), '--follow', '--json'], followIo),
      ]);
      expect(runCode).toBe(0);
      expect(followCode).toBe(0);
      type Event = { seq: number; type: string; text?: string; current?: number; stepId?: string };
      const parse = (text: string): Event[] =>
        text
          .trimEnd()
          .split('\n')
          .map((line) => JSON.parse(line) as Event);
      const viaRun = parse(runIo.stdout.text);
      const viaFollow = parse(followIo.stdout.text);
      for (const events of [viaRun, viaFollow]) {
        // Gapless and without repeats: seq 1, 2, …, n.
        expect(events.map((event) => event.seq)).toEqual(events.map((_, n) => n + 1));
        expect(events.filter((event) => event.type === 'progress').map((event) => event.current)).toEqual([
          1, 2, 3, 4, 5,
        ]);
        // A log event holds a chunk of output: one or more lines.
        const lines = events
          .filter((event) => event.type === 'log')
          .flatMap((event) => (event.text ?? '').split('\n'));
        for (const line of ['line-1', 'line-2', 'line-3', 'line-4', 'line-5', 'after-count'])
          expect(lines.filter((text) => text === line)).toHaveLength(1);
        expect(events.at(-1)?.type).toBe('run-succeeded');
      }
      expect(viaFollow).toEqual(viaRun);

      // Followed once it has ended: the whole run, then the summary.
      const plain = createFakeIO({ cwd: tmpdir(), env });
      expect(await main(['show', runId, '--follow'], plain)).toBe(0);
      expect(plain.stdout.text).toContain('line-3');
      expect(plain.stdout.text).toMatch(new RegExp(`Run ${runId} succeeded in`));
    } finally {
      liveWorker.kill('SIGKILL');
    }
  });

  it('a wrong password is a clear error at start, for run and worker alike', async () => {
    const wrong = URL_.replace(/:[^:@/]*@/, ':wrong@');
    const run = createFakeIO({ cwd: dir });
    expect(await main(['run', '--queue', wrong, 'pipeline.yaml'], run)).not.toBe(0);
    expect(run.stderr.text).toMatch(/refused the login: password authentication failed/);
    expect(run.stderr.text).not.toContain(':wrong@');
    const worker = createFakeIO({ cwd: dir });
    expect(await main(['worker', '--queue', wrong], worker)).not.toBe(0);
    expect(worker.stderr.text).toMatch(/refused the login/);
    const none = createFakeIO({ cwd: dir, env: {} });
    expect(await main(['worker'], none)).toBe(2);
    expect(none.stderr.text).toContain('no queue: pass --queue');
  });
});
