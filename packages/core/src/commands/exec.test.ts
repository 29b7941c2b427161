import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, Observable, of, tap, toArray } from 'rxjs';
import { afterAll, describe, expect, it } from 'vitest';
import type { CommandContext, StepEvent } from '../contracts/command.js';
import type { ExecOptions, ProcessEvent, ProcessSpec, Runner } from '../contracts/runner.js';
import { isCoreError, type CoreError } from '../errors/core-error.js';
import { LocalProcessRunner } from '../runners/local-process-runner.js';
import { ExecCommand, execParamsSchema, type ExecParams } from './exec.js';

const execCommand = new ExecCommand();

const scratch = realpathSync(mkdtempSync(join(tmpdir(), 'beamline-exec-')));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let dirCount = 0;

function context(overrides: Partial<CommandContext> = {}): CommandContext {
  const workdir = join(scratch, `run-${++dirCount}`);
  mkdirSync(workdir, { recursive: true });
  const stepDir = join(workdir, '.step');
  mkdirSync(stepDir, { recursive: true });
  return {
    runId: 'run-1',
    stepId: 'step-a',
    attempt: 1,
    signal: new AbortController().signal,
    workdir,
    stepDir,
    resources: { cpus: 1, memoryMb: 0, gpus: [] },
    runner: new LocalProcessRunner(),
    labels: { 'beamline.run': 'run-1', 'beamline.step': 'step-a' },
    ...overrides,
  };
}

function params(input: unknown): ExecParams {
  const result = execParamsSchema.safeParse(input);
  if (!result.success) throw new Error(result.error.message);
  return result.data;
}

async function run(ctx: CommandContext, input: unknown): Promise<StepEvent[]> {
  return lastValueFrom(execCommand.execute(ctx, params(input)).pipe(toArray()));
}

async function runFailing(
  ctx: CommandContext,
  input: unknown,
): Promise<{ error: CoreError; events: StepEvent[] }> {
  const events: StepEvent[] = [];
  return new Promise((resolve, reject) => {
    execCommand.execute(ctx, params(input)).subscribe({
      next: (event) => events.push(event),
      error: (error: unknown) => {
        if (isCoreError(error)) resolve({ error, events });
        else reject(error instanceof Error ? error : new Error(String(error)));
      },
      complete: () => reject(new Error('expected the step to fail')),
    });
  });
}

function logText(events: StepEvent[], stream: 'stdout' | 'stderr'): string {
  return events.map((e) => (e.type === 'log' && e.stream === stream ? e.text : '')).join('');
}

function outputsOf(events: StepEvent[]): Record<string, unknown> {
  const last = events.at(-1);
  if (last?.type !== 'outputs') throw new Error(`last event is ${last?.type}, not outputs`);
  return last.outputs;
}

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

describe('exec command', () => {
  it('declares its name, version and schema', () => {
    expect(execCommand.name).toBe('exec');
    expect(execCommand.version).toBe('1');
    expect(execCommand.params['~standard'].vendor).toBe('zod');
    expect(execParamsSchema.safeParse({ command: [] }).success).toBe(false);
    expect(execParamsSchema.safeParse({ command: [''] }).success).toBe(false);
    expect(execParamsSchema.safeParse({ command: '' }).success).toBe(false);
    expect(execParamsSchema.safeParse({ command: 'true', bogus: 1 }).success).toBe(false);
    expect(execParamsSchema.safeParse({ command: 'true', outputs: { exitCode: 'x' } }).success).toBe(false);
    expect(
      execParamsSchema.safeParse({ command: ['true'], env: { A: '1' }, outputs: { m: ['a', 'b'] } }).success,
    ).toBe(true);
  });

  it('runs a string through sh -c and an argv array without a shell', async () => {
    const shell = await run(context(), { command: 'echo $((1 + 2))' });
    expect(logText(shell, 'stdout')).toBe('3\n');
    expect(outputsOf(shell)).toEqual({ exitCode: 0 });

    const argv = await run(context(), { command: ['printf', '%s|', 'a b', '$HOME', '*'] });
    expect(logText(argv, 'stdout')).toBe('a b|$HOME|*|');
  });

  it('streams logs in chunks of whole lines, text exact', async () => {
    const lines = 200_000;
    const events = await run(context(), {
      command: `i=0; seq 1 ${lines}; echo to-stderr >&2; printf 'no newline at end'`,
    });
    const expected = Array.from({ length: lines }, (_, i) => `${i + 1}\n`).join('') + 'no newline at end';
    const stdoutEvents = events.filter((e) => e.type === 'log' && e.stream === 'stdout');
    expect(logText(events, 'stdout')).toBe(expected);
    expect(logText(events, 'stderr')).toBe('to-stderr\n');
    expect(stdoutEvents.length).toBeLessThan(lines / 100);
    // Every chunk but the last ends at a line boundary.
    for (const event of stdoutEvents.slice(0, -1)) {
      expect(event.type === 'log' && event.text.endsWith('\n')).toBe(true);
    }
  });

  it('shows the lines of a quiet process while it runs', { timeout: 20_000 }, async () => {
    const seen: { text: string; at: number }[] = [];
    const events = await lastValueFrom(
      execCommand.execute(context(), params({ command: 'echo first; sleep 1; echo second' })).pipe(
        tap((event) => {
          if (event.type === 'log') seen.push({ text: event.text, at: Date.now() });
        }),
        toArray(),
      ),
    );
    expect(seen.map((s) => s.text)).toEqual(['first\n', 'second\n']);
    // The first line was not held back until the end.
    expect((seen[1]?.at ?? 0) - (seen[0]?.at ?? 0)).toBeGreaterThan(500);
    expect(outputsOf(events)).toEqual({ exitCode: 0 });
  });

  it('keeps multi-byte characters whole across reads', async () => {
    const events = await run(context(), { command: `for i in $(seq 1 20000); do printf 'é€😀'; done; echo` });
    expect(logText(events, 'stdout')).toBe('é€😀'.repeat(20000) + '\n');
  });

  it('turns marker lines into metrics, progress and outputs, and keeps them in the log', async () => {
    const script = [
      'echo plain line with std::vector',
      "echo '::metric loss=0.25 step=3'",
      "echo '::metric accuracy=9.5e-1'",
      "echo '::metric broken=abc'",
      "echo '::progress 3/10 epoch 3'",
      "echo '::progress 7'",
      `echo '::output best={"epoch":3,"ok":true}'`,
      "echo '::output label=just text'",
      "echo '::output count=42'",
      "echo '::metric stderr=1' >&2",
      "printf '::output last=final'",
    ].join('; ');
    const events = await run(context(), { command: script });
    expect(events.filter((e) => e.type === 'metric')).toEqual([
      { type: 'metric', name: 'loss', value: 0.25, step: 3 },
      { type: 'metric', name: 'accuracy', value: 0.95 },
    ]);
    expect(events.filter((e) => e.type === 'progress')).toEqual([
      { type: 'progress', current: 3, total: 10, message: 'epoch 3' },
      { type: 'progress', current: 7 },
    ]);
    expect(outputsOf(events)).toEqual({
      exitCode: 0,
      best: { epoch: 3, ok: true },
      label: 'just text',
      count: 42,
      last: 'final',
    });
    expect(logText(events, 'stdout')).toContain('::metric loss=0.25 step=3\n::metric accuracy');
    expect(logText(events, 'stderr')).toBe('::metric stderr=1\n');
  });

  it('collects outputs as artifacts with size and sha256', async () => {
    const ctx = context();
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    writeFileSync(join(ctx.workdir, 'big.bin'), big);
    const events = await run(ctx, {
      command:
        'mkdir -p out/sub && printf model > out/model.onnx && printf a > out/sub/a.csv && printf bb > out/b.csv',
      outputs: { model: 'out/*.onnx', tables: ['out/**/*.csv'], big: 'big.bin' },
    });
    const artifacts = events.flatMap((e) => (e.type === 'artifact' ? [e.artifact] : []));
    expect(artifacts).toEqual([
      {
        name: 'model',
        path: join(ctx.workdir, 'out/model.onnx'),
        sha256: sha256('model'),
        size: 5,
        kind: 'file',
      },
      {
        name: 'tables/out/b.csv',
        path: join(ctx.workdir, 'out/b.csv'),
        sha256: sha256('bb'),
        size: 2,
        kind: 'file',
      },
      {
        name: 'tables/out/sub/a.csv',
        path: join(ctx.workdir, 'out/sub/a.csv'),
        sha256: sha256('a'),
        size: 1,
        kind: 'file',
      },
      {
        name: 'big',
        path: join(ctx.workdir, 'big.bin'),
        sha256: sha256(big),
        size: big.length,
        kind: 'file',
      },
    ]);
    expect(outputsOf(events)).toEqual({
      exitCode: 0,
      model: join(ctx.workdir, 'out/model.onnx'),
      tables: [join(ctx.workdir, 'out/b.csv'), join(ctx.workdir, 'out/sub/a.csv')],
      big: join(ctx.workdir, 'big.bin'),
    });
  });

  it('collects a list of globs as artifacts named by their relative path, in a relative workdir', async () => {
    const ctx = context();
    const events = await run(ctx, {
      command: 'printf "$GREETING" > x.txt && printf y > y.log && pwd',
      workdir: 'sub',
      env: { GREETING: 'hello' },
      outputs: ['*.txt', '*.log', 'x.*'],
    }).catch((error: unknown) => {
      throw error;
    });
    const dir = join(ctx.workdir, 'sub');
    expect(logText(events, 'stdout')).toBe(`${dir}\n`);
    expect(events.flatMap((e) => (e.type === 'artifact' ? [e.artifact] : []))).toEqual([
      { name: 'x.txt', path: join(dir, 'x.txt'), sha256: sha256('hello'), size: 5, kind: 'file' },
      { name: 'y.log', path: join(dir, 'y.log'), sha256: sha256('y'), size: 1, kind: 'file' },
    ]);
    expect(outputsOf(events)).toEqual({ exitCode: 0 });
  });

  it('fails with CORE_OUTPUT_MISSING naming the pattern and workdir', async () => {
    const ctx = context();
    const { error } = await runFailing(ctx, {
      command: 'touch present.txt',
      outputs: { a: 'present.txt', b: 'absent/*.h5' },
    });
    expect(error.code).toBe('CORE_OUTPUT_MISSING');
    expect(error.message).toContain('absent/*.h5');
    expect(error.message).toContain(ctx.workdir);
  });

  it('fails with CORE_PROCESS_FAILED quoting the last lines of stderr', async () => {
    const { error, events } = await runFailing(context(), {
      command: 'for i in $(seq 1 30); do echo "err line $i" >&2; done; echo out; exit 3',
    });
    expect(error.code).toBe('CORE_PROCESS_FAILED');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('code 3');
    expect(error.message).toContain('err line 11\n');
    expect(error.message).toMatch(/err line 30$/);
    expect(error.message).not.toContain('err line 10\n');
    expect(error.details).toEqual({ exitCode: 3, signal: null, oomKilled: false });
    expect(logText(events, 'stderr')).toContain('err line 1\n');
    expect(events.some((e) => e.type === 'outputs')).toBe(false);
  });

  it('reports a process killed by a signal', async () => {
    const { error } = await runFailing(context(), { command: 'kill -9 $$' });
    expect(error.code).toBe('CORE_PROCESS_FAILED');
    expect(error.message).toContain('SIGKILL');
    expect(error.details).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
  });

  it('maps a runner timeout to CORE_TIMEOUT', { timeout: 20_000 }, async () => {
    const local = new LocalProcessRunner();
    const withTimeout: Runner = {
      name: 'local-with-timeout',
      identity: (spec) => local.identity(spec),
      exec: (spec, options) => local.exec({ ...spec, timeoutMs: 300, killGraceMs: 1_000 }, options),
    };
    const { error } = await runFailing(context({ runner: withTimeout }), { command: 'sleep 30' });
    expect(error.code).toBe('CORE_TIMEOUT');
    expect(error.retryable).toBe(true);
  });

  it('maps an abort whose reason is a timeout to CORE_TIMEOUT', { timeout: 20_000 }, async () => {
    const { error } = await runFailing(context({ signal: AbortSignal.timeout(300) }), {
      command: 'sleep 30',
    });
    expect(error.code).toBe('CORE_TIMEOUT');
    expect(error.retryable).toBe(true);
  });

  it('maps cancellation to CORE_CANCELLED', { timeout: 20_000 }, async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('user pressed stop')), 300);
    const started = Date.now();
    const { error } = await runFailing(context({ signal: controller.signal }), { command: 'sleep 30' });
    expect(error.code).toBe('CORE_CANCELLED');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('user pressed stop');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('stops the process when unsubscribed', { timeout: 20_000 }, async () => {
    let pid = 0;
    await new Promise<void>((resolve, reject) => {
      const subscription = execCommand
        .execute(context(), params({ command: 'echo $$; exec sleep 30' }))
        .subscribe({
          next: (event) => {
            if (event.type !== 'log') return;
            pid = Number(event.text.trim());
            subscription.unsubscribe();
            resolve();
          },
          error: reject,
        });
    });
    expect(pid).toBeGreaterThan(0);
    const deadline = Date.now() + 5_000;
    let gone = false;
    while (!gone && Date.now() < deadline) {
      try {
        process.kill(pid, 0);
        await new Promise((r) => setTimeout(r, 50));
      } catch {
        gone = true;
      }
    }
    expect(gone).toBe(true);
  });

  it('passes the grant, labels, name and signal to the runner, and mounts the workdir for an image', async () => {
    const calls: { spec: ProcessSpec; options: ExecOptions | undefined }[] = [];
    const recording: Runner = {
      name: 'recording',
      identity: () => Promise.resolve('recording'),
      exec: (spec, options): Observable<ProcessEvent> => {
        calls.push({ spec, options });
        return of<ProcessEvent[]>(
          { type: 'started', containerId: 'c1' },
          { type: 'stdout', data: Buffer.from('inside\n') },
          { type: 'exit', code: 0, signal: null, oomKilled: false },
        );
      },
    };
    const ctx = context({ runner: recording, resources: { cpus: 2, memoryMb: 512, gpus: ['1'] } });
    writeFileSync(join(ctx.workdir, 'result.txt'), 'r');
    const events = await run(ctx, {
      command: 'python train.py',
      image: 'pytorch/pytorch:2.4',
      env: { SEED: '1' },
      outputs: { result: 'result.txt' },
    });
    expect(calls).toHaveLength(1);
    expect(calls[0]?.spec).toEqual({
      argv: ['sh', '-c', 'python train.py'],
      env: { SEED: '1' },
      image: 'pytorch/pytorch:2.4',
      mounts: [{ source: ctx.workdir, target: '/workspace', readOnly: false }],
      cwd: '/workspace',
      resources: { cpus: 2, memoryMb: 512, gpus: ['1'] },
      labels: ctx.labels,
      name: 'step-a',
      files: { root: ctx.workdir, inputs: [], outputs: { dir: ctx.workdir, patterns: ['result.txt'] } },
    });
    expect(calls[0]?.options?.signal).toBe(ctx.signal);
    expect(logText(events, 'stdout')).toBe('inside\n');
    // Outputs are collected on the host side of the mount.
    expect(outputsOf(events)).toEqual({ exitCode: 0, result: join(ctx.workdir, 'result.txt') });
  });

  it("describes the step's files: the inputs it reads, its needs' artifacts and its declared outputs", async () => {
    const specs: ProcessSpec[] = [];
    const recording: Runner = {
      name: 'recording',
      identity: () => Promise.resolve('recording'),
      exec: (spec): Observable<ProcessEvent> => {
        specs.push(spec);
        return of<ProcessEvent[]>({ type: 'exit', code: 0, signal: null, oomKilled: false });
      },
    };
    const ctx = context({
      runner: recording,
      inputs: [
        { name: 'model', path: '/elsewhere/model.bin', sha256: 'ab'.repeat(32), size: 3, kind: 'file' },
      ],
    });
    mkdirSync(join(ctx.workdir, 'sub'));
    writeFileSync(join(ctx.workdir, 'sub', 'a.txt'), 'a');
    await run(ctx, {
      command: ['sh', 'score.sh'],
      workdir: 'sub',
      inputs: ['score.sh', 'data/*.csv'],
      outputs: { a: 'a.txt', both: ['a.txt', '*.txt'] },
    });
    expect(specs[0]?.files).toEqual({
      root: ctx.workdir,
      inputs: [{ path: '/elsewhere/model.bin', sha256: 'ab'.repeat(32), size: 3 }],
      reads: { dir: join(ctx.workdir, 'sub'), patterns: ['score.sh', 'data/*.csv'] },
      outputs: { dir: join(ctx.workdir, 'sub'), patterns: ['a.txt', '*.txt'] },
    });
    expect(execParamsSchema.safeParse({ command: 'true', inputs: [] }).success).toBe(false);
    expect(execParamsSchema.safeParse({ command: 'true', inputs: [''] }).success).toBe(false);
  });

  it('passes spawn failures through', async () => {
    const { error } = await runFailing(context(), { command: ['beamline-no-such-program'] });
    expect(error.code).toBe('CORE_SPAWN_FAILED');
  });

  it('ends the step only when the runner has finished cleaning up, not at the exit event', async () => {
    let runnerDone = false;
    const slowCleanup: Runner = {
      name: 'slow-cleanup',
      identity: () => Promise.resolve('slow-cleanup'),
      // Like a container runner: the exit is known first, the container is removed afterwards.
      exec: () =>
        new Observable<ProcessEvent>((subscriber) => {
          subscriber.next({ type: 'started' });
          subscriber.next({ type: 'exit', code: 0, signal: null, oomKilled: false });
          const timer = setTimeout(() => {
            runnerDone = true;
            subscriber.complete();
          }, 100);
          return () => clearTimeout(timer);
        }),
    };
    const events = await run(context({ runner: slowCleanup }), { command: 'true' });
    expect(runnerDone).toBe(true);
    expect(events.at(-1)).toEqual({ type: 'outputs', outputs: { exitCode: 0 } });
  });
});
