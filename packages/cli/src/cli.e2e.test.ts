import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '@beamline/core';
import { main } from './main.js';
import { createFakeIO } from './testing/fake-io.js';

// End to end against the real runtime (SQLite store, local runner, `sh -c` steps), mostly in-process
// through `main`; cancellation and Ctrl-C need a second process, so those spawn the program itself.

const BIN = fileURLToPath(new URL('./bin.ts', import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
// tsx applies the tsconfig of the working directory (none in a temp dir, none at the repository root)
// and only to the files it includes; the DI parameter decorators of core and the plugins need
// experimentalDecorators, which the base config sets for the whole repository.
const TSCONFIG = fileURLToPath(new URL('../../../tsconfig.base.json', import.meta.url));

const PIPELINE = `
name: e2e
params:
  greeting: { type: string, default: hello }
steps:
  hello:
    uses: exec
    with:
      command: "printf '%s\\\\n' '\${{ params.greeting }}' > greeting.txt && echo out-line && echo err-line >&2 && echo '::metric score=0.5' && echo '::progress 1/2 half'"
      outputs: { greeting: greeting.txt }
  shout:
    uses: exec
    with:
      command: "tr a-z A-Z < \${{ steps.hello.outputs.greeting }}"
`;

const FAILING = `
name: failing
steps:
  broken:
    uses: exec
    with:
      command: "echo about-to-fail >&2; exit 3"
`;

const INVALID = `
name: invalid
steps:
  a:
    with: { command: "true" }
`;

const SLEEPY = `
name: sleepy
steps:
  nap:
    uses: exec
    with:
      command: "echo napping; sleep 30"
    cache: false
`;

async function cli(cwd: string, argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = createFakeIO({ cwd });
  const code = await main(argv, io);
  return { code, stdout: io.stdout.text, stderr: io.stderr.text };
}

function jsonLines(stdout: string): RunEvent[] {
  return stdout
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as RunEvent);
}

/** The program in a child process, as a user would start it. */
interface Spawned {
  child: ChildProcess;
  output: { stdout: string; stderr: string };
  exit: Promise<number | null>;
  exited: boolean;
}

function spawnCli(cwd: string, argv: string[]): Spawned {
  const child = spawn(process.execPath, ['--conditions=source', '--import', TSX, BIN, ...argv], {
    cwd,
    env: { ...process.env, NO_COLOR: '1', TSX_TSCONFIG_PATH: TSCONFIG },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  child.stdout?.on('data', (chunk: Buffer) => (output.stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()));
  const spawned: Spawned = { child, output, exit: Promise.resolve(null), exited: false };
  spawned.exit = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      spawned.exited = true;
      resolve(code);
    }),
  );
  return spawned;
}

/** Waits until the child's stdout satisfies `condition`; fails with its output when it exits first. */
async function waitForOutput(
  spawned: Spawned,
  condition: (stdout: string) => boolean,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition(spawned.output.stdout)) {
    if (spawned.exited || Date.now() > deadline) {
      throw new Error(
        `gave up waiting; stdout:\n${spawned.output.stdout}\nstderr:\n${spawned.output.stderr}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('beamline end to end', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beamline-cli-e2e-'));
    await writeFile(join(dir, 'pipeline.yaml'), PIPELINE);
    await writeFile(join(dir, 'failing.yaml'), FAILING);
    await writeFile(join(dir, 'invalid.yaml'), INVALID);
    await writeFile(join(dir, 'sleepy.yaml'), SLEEPY);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  let firstRunId = '';

  it('run --json: one parseable event per line, each with the run id; exit 0', async () => {
    const { code, stdout, stderr } = await cli(dir, ['run', 'pipeline.yaml', '--json']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const events = jsonLines(stdout);
    firstRunId = events[0]?.runId ?? '';
    expect(firstRunId).not.toBe('');
    expect(events.every((event) => event.runId === firstRunId)).toBe(true);
    expect(events.map((event) => event.type)).toContain('metric');
    expect(events.filter((event) => event.type === 'succeeded').map((event) => event.stepId)).toEqual([
      'hello',
      'shout',
    ]);
    const shoutLog = events.find((event) => event.type === 'log' && event.stepId === 'shout');
    expect(shoutLog).toMatchObject({ text: 'HELLO\n' });
  });

  it('a second run is served entirely from the cache, and says so', async () => {
    const { code, stdout } = await cli(dir, ['run', 'pipeline.yaml']);
    expect(code).toBe(0);
    expect(stdout).toContain('hello cached');
    expect(stdout).toContain('shout cached');
    expect(stdout).toContain('2 steps: 0 succeeded, 2 cached, 0 failed');
    expect(stdout).toMatch(/Metrics\n\s+hello\s+score=0\.5/);
    expect(stdout).toMatch(/Artifacts\n\s+hello\s+greeting\s+greeting\.txt\s+6 B/);
  });

  it('logs: stdout to stdout, stderr to stderr, in order', async () => {
    const { code, stdout, stderr } = await cli(dir, ['logs', firstRunId, 'hello']);
    expect(code).toBe(0);
    expect(stdout).toContain('out-line\n');
    expect(stdout).not.toContain('err-line');
    expect(stderr).toBe('err-line\n');
    const all = await cli(dir, ['logs', firstRunId]);
    expect(all.stdout).toContain('[shout] HELLO\n');
    expect((await cli(dir, ['logs', firstRunId, 'nope'])).code).toBe(2);
  });

  it('show: steps with status, attempts, outputs, artifacts and metrics (also by the end of the id)', async () => {
    const { code, stdout } = await cli(dir, ['show', firstRunId.slice(-6)]);
    expect(code).toBe(0);
    expect(stdout).toContain(`Run ${firstRunId}  succeeded`);
    expect(stdout).toMatch(/hello {2}succeeded {2}attempt 1/);
    expect(stdout).toMatch(/output +greeting = .*greeting\.txt/);
    expect(stdout).toMatch(/artifact +greeting {2}greeting\.txt {2}6 B/);
    expect(stdout).toContain('metrics    score=0.5');
    const json = JSON.parse((await cli(dir, ['show', firstRunId, '--json'])).stdout) as {
      status: string;
      steps: object;
    };
    expect(json.status).toBe('succeeded');
    expect(Object.keys(json.steps)).toEqual(['hello', 'shout']);
  });

  it('runs lists the runs, newest first', async () => {
    const { stdout } = await cli(dir, ['runs']);
    expect(stdout.split('\n')[0]).toMatch(/^RUN\s+PIPELINE\s+STATUS/);
    const json = (await cli(dir, ['runs', '--json'])).stdout.trimEnd().split('\n');
    expect(JSON.parse(json.at(-1) ?? '{}')).toMatchObject({ id: firstRunId, status: 'succeeded' });
  });

  it('explain names the changed parameter after a param change', async () => {
    const { code, stdout } = await cli(dir, ['run', 'pipeline.yaml', '--param', 'greeting=bye', '--json']);
    expect(code).toBe(0);
    const runId = jsonLines(stdout)[0]?.runId ?? '';
    const explain = await cli(dir, ['explain', runId, 'hello']);
    expect(explain.code).toBe(0);
    expect(explain.stdout).toMatch(/params\s+.*hello.*→.*bye/);
    const json = JSON.parse((await cli(dir, ['explain', runId, 'hello', '--json'])).stdout) as {
      changes: { part: string }[];
    };
    expect(json.changes.map((change) => change.part)).toContain('params');
  });

  it('a failing step exits 1 and the summary shows why', async () => {
    const { code, stdout } = await cli(dir, ['run', 'failing.yaml']);
    expect(code).toBe(1);
    expect(stdout).toMatch(/Run \S+ failed/);
    expect(stdout).toMatch(/Failed\n\s+broken\s+CORE_\w+/);
    expect(stdout).toContain('about-to-fail');
  });

  it('an invalid pipeline or param exits 2 with the message on stderr', async () => {
    const invalid = await cli(dir, ['run', 'invalid.yaml']);
    expect(invalid.code).toBe(2);
    expect(invalid.stdout).toBe('');
    expect(invalid.stderr).toContain('invalid.yaml');
    const badParam = await cli(dir, ['run', 'pipeline.yaml', '--param', 'nope=1']);
    expect(badParam.code).toBe(2);
    expect(badParam.stderr).toContain('nope');
  });

  it(
    'cancel from a second process stops a running run; the runner exits 1',
    { timeout: 60_000 },
    async () => {
      const running = spawnCli(dir, ['run', 'sleepy.yaml', '--json']);
      await waitForOutput(running, (stdout) => stdout.includes('"type":"started"'));
      const runId = jsonLines(running.output.stdout)[0]?.runId ?? '';
      const cancel = spawnCli(dir, ['cancel', runId, '--reason', 'test says stop']);
      expect(await cancel.exit).toBe(0);
      expect(cancel.output.stdout).toContain(`Asked run ${runId} to cancel`);
      expect(await running.exit).toBe(1);
      const last = jsonLines(running.output.stdout).at(-1);
      expect(last).toMatchObject({ type: 'run-cancelled', reason: 'test says stop' });
    },
  );

  it(
    'Ctrl-C cancels the run cleanly with reason "interrupted" and exits 1',
    { timeout: 60_000 },
    async () => {
      const running = spawnCli(dir, ['run', 'sleepy.yaml']);
      await waitForOutput(running, (stdout) => stdout.includes('nap started'));
      running.child.kill('SIGINT');
      expect(await running.exit).toBe(1);
      expect(running.output.stdout).toContain('Cancelling the run');
      expect(running.output.stdout).toMatch(/Run \S+ cancelled/);
      const runId = /^Run (\S+) cancelled/m.exec(running.output.stdout)?.[1] ?? '';
      expect(JSON.parse((await cli(dir, ['show', runId, '--json'])).stdout)).toMatchObject({
        status: 'cancelled',
      });
    },
  );
});
