import { map, merge, type Observable, type Subscription } from 'rxjs';
import { afterAll, describe, expect, it } from 'vitest';
import type { ExecOptions, ProcessEvent, ProcessSpec, Runner } from '../contracts/runner.js';
import { isBeamlineError } from '../errors/beamline-error.js';

type StartedEvent = Extract<ProcessEvent, { type: 'started' }>;
type ExitEvent = Extract<ProcessEvent, { type: 'exit' }>;

/** Options of {@link runnerContractSuite}. */
export interface RunnerContractOptions {
  /** Creates the runner under test (once per suite). */
  create: () => Runner | Promise<Runner>;
  /** Image to run in, for container runners (it must have a POSIX `sh` and busybox-like tools). */
  image?: string;
  /** A directory that exists where the process runs; `/` when omitted. */
  cwd?: string;
  /** Whether the process (or container) of a `started` event is gone; enables the unsubscribe-kills check. */
  isGone?: (started: StartedEvent) => Promise<boolean>;
  /** Cleans up after the suite. */
  dispose?: () => Promise<void>;
}

interface Outcome {
  events: ProcessEvent[];
  error?: unknown;
  completed: boolean;
  stdout: Buffer;
  stderr: Buffer;
  exit?: ExitEvent;
  elapsedMs: number;
}

const TEST_TIMEOUT_MS = 60_000;

/**
 * The conformance suite every {@link Runner} runs. It only uses `sh -c` with POSIX shell and busybox tools
 * (`echo`, `printf`, `yes`, `head`, `sleep`, `kill`, `trap`, `pwd`), so container runners can run it with a
 * busybox image. Call it at the top level of a test file.
 */
export function runnerContractSuite(name: string, options: RunnerContractOptions): void {
  describe(`Runner contract: ${name}`, () => {
    let runnerPromise: Promise<Runner> | undefined;
    const runner = (): Promise<Runner> => (runnerPromise ??= Promise.resolve(options.create()));
    const cwd = options.cwd ?? '/';

    const shSpec = (script: string, extra: Partial<ProcessSpec> = {}): ProcessSpec => ({
      argv: ['sh', '-c', script],
      ...(options.image === undefined ? {} : { image: options.image }),
      ...extra,
    });
    const exec = async (spec: ProcessSpec, execOptions?: ExecOptions): Promise<Observable<ProcessEvent>> =>
      (await runner()).exec(spec, execOptions);

    afterAll(async () => {
      await options.dispose?.();
    });

    it(
      'starts nothing before subscription, and each subscription runs its own process',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const missing = await exec({ ...shSpec(''), argv: ['beamline-contract-no-such-program'] });
        // A failure to start surfaces only on subscription, as a notification, never as a throw from exec().
        const failed = await collect(missing);
        expect(failed.error).toBeDefined();

        const cold = await exec(shSpec('echo run'));
        await delay(200);
        const first = await collect(cold);
        const second = await collect(cold);
        expect(first.stdout.toString()).toBe('run\n');
        expect(second.stdout.toString()).toBe('run\n');
        const started = [first, second].map((o) => o.events[0]);
        expect(started.every((e) => e?.type === 'started')).toBe(true);
        expect(started[0]).not.toEqual(started[1]);
      },
    );

    it('emits started, output, exactly one exit, then completes', { timeout: TEST_TIMEOUT_MS }, async () => {
      const out = await collect(await exec(shSpec('echo hello; echo oops >&2')));
      expect(out.error).toBeUndefined();
      expect(out.completed).toBe(true);
      expect(out.events[0]?.type).toBe('started');
      expect(out.events.at(-1)?.type).toBe('exit');
      expect(out.events.filter((e) => e.type === 'exit')).toHaveLength(1);
      expect(out.events.filter((e) => e.type === 'started')).toHaveLength(1);
      expect(out.stdout.toString()).toBe('hello\n');
      expect(out.stderr.toString()).toBe('oops\n');
      expect(out.exit).toMatchObject({ code: 0, signal: null, oomKilled: false });
      expect(out.exit?.reason).toBeUndefined();
    });

    it(
      'accepts the descriptive fields the engine sets on every spec (name, labels, files)',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        // A runner that validates its spec strictly must still take what core describes for others
        // (ProcessSpec.files is for runners that move work away from the run's folder).
        const described = shSpec('echo described', {
          name: 'contract-described',
          labels: { 'beamline.contract': 'described' },
          files: {
            root: cwd,
            inputs: [],
            reads: { dir: cwd, patterns: ['no-such-input-*'] },
            outputs: { dir: cwd, patterns: ['no-such-output-*'] },
          },
        });
        const out = await collect(await exec(described));
        expect(out.error).toBeUndefined();
        expect(out.stdout.toString()).toBe('described\n');
        expect(out.exit).toMatchObject({ code: 0 });
      },
    );

    it(
      'keeps stdout and stderr apart and byte-exact over several megabytes',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const script = [
          '(yes abcdefghij | head -c 5000000) &',
          '(yes 0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ | head -c 3000000 >&2) &',
          'wait',
          // Binary bytes right before exit: nothing may be lost or re-encoded at the end of the stream.
          "printf '\\303\\251\\000\\377end'",
          "printf '\\001\\002\\376' >&2",
        ].join('\n');
        const out = await collect(await exec(shSpec(script)));
        expect(out.error).toBeUndefined();
        expect(out.exit?.code).toBe(0);
        const expectedOut = Buffer.concat([
          repeatTo('abcdefghij\n', 5_000_000),
          Buffer.from([0xc3, 0xa9, 0x00, 0xff]),
          Buffer.from('end'),
        ]);
        const expectedErr = Buffer.concat([
          repeatTo('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ\n', 3_000_000),
          Buffer.from([0x01, 0x02, 0xfe]),
        ]);
        expect(out.stdout.length).toBe(expectedOut.length);
        expect(out.stderr.length).toBe(expectedErr.length);
        expect(out.stdout.equals(expectedOut)).toBe(true);
        expect(out.stderr.equals(expectedErr)).toBe(true);
      },
    );

    it.each([0, 3, 255])('reports exit code %i', { timeout: TEST_TIMEOUT_MS }, async (code) => {
      const out = await collect(await exec(shSpec(`exit ${code}`)));
      expect(out.error).toBeUndefined();
      expect(out.exit).toMatchObject({ code, signal: null, oomKilled: false });
    });

    it(
      'reports a process killed by a signal with the signal and a null code',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const out = await collect(await exec(shSpec('kill -9 $$; sleep 5')));
        expect(out.error).toBeUndefined();
        expect(out.exit).toMatchObject({ code: null, signal: 'SIGKILL' });
        expect(out.exit?.reason).toBeUndefined();
      },
    );

    it(
      'accepts the scheduler hints every step carries (request, timeLimitMs) and still runs the work',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const hinted = shSpec('echo hinted', {
          request: { cpus: 1, memoryMb: 16, gpus: 0, gpuOptional: true, labels: ['linux', 'gpu=none'] },
          timeLimitMs: 600_000,
        });
        const out = await collect(await exec(hinted));
        expect(out.error).toBeUndefined();
        expect(out.stdout.toString()).toBe('hinted\n');
        expect(out.exit).toMatchObject({ code: 0 });
      },
    );

    it('passes the environment', { timeout: TEST_TIMEOUT_MS }, async () => {
      const value = 'a b=c ${not expanded} "quoted"';
      const out = await collect(
        await exec(shSpec('printf %s "$BEAMLINE_CONTRACT_VAR"', { env: { BEAMLINE_CONTRACT_VAR: value } })),
      );
      expect(out.stdout.toString()).toBe(value);
    });

    it('honours the working directory', { timeout: TEST_TIMEOUT_MS }, async () => {
      const out = await collect(await exec(shSpec('pwd', { cwd })));
      expect(out.exit?.code).toBe(0);
      expect(out.stdout.toString().trim()).toBe(cwd);
    });

    it('stops a process at timeoutMs and reports reason timeout', { timeout: TEST_TIMEOUT_MS }, async () => {
      const out = await collect(await exec(shSpec('sleep 60', { timeoutMs: 500, killGraceMs: 5_000 })));
      expect(out.error).toBeUndefined();
      expect(out.completed).toBe(true);
      expect(out.exit?.reason).toBe('timeout');
      expect(out.exit?.code).not.toBe(0);
      expect(out.elapsedMs).toBeLessThan(20_000);
    });

    it(
      'SIGKILLs a process that ignores SIGTERM after killGraceMs',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const graceMs = 1_000;
        const out = await collect(
          await exec(
            shSpec("trap '' TERM; echo ready; while :; do sleep 1; done", {
              timeoutMs: 300,
              killGraceMs: graceMs,
            }),
          ),
        );
        expect(out.stdout.toString()).toBe('ready\n');
        expect(out.exit?.reason).toBe('timeout');
        expect(out.exit?.signal).toBe('SIGKILL');
        expect(out.elapsedMs).toBeGreaterThanOrEqual(300 + graceMs - 50);
        expect(out.elapsedMs).toBeLessThan(20_000);
      },
    );

    it('stops on abort and reports reason cancelled', { timeout: TEST_TIMEOUT_MS }, async () => {
      const controller = new AbortController();
      const observable = await exec(shSpec('echo ready; sleep 60', { killGraceMs: 5_000 }), {
        signal: controller.signal,
      });
      const out = await collect(observable, (event) => {
        // Aborting synchronously on 'started' must not slip through before the runner listens.
        if (event.type === 'started') controller.abort(new Error('test cancel'));
      });
      expect(out.error).toBeUndefined();
      expect(out.completed).toBe(true);
      expect(out.exit?.reason).toBe('cancelled');
      expect(out.exit?.code).not.toBe(0);
      expect(out.elapsedMs).toBeLessThan(20_000);
    });

    it(
      'reports reason cancelled for a signal aborted before subscription',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const out = await collect(
          await exec(shSpec('echo should-not-run; sleep 60'), { signal: AbortSignal.abort() }),
        );
        expect(out.error).toBeUndefined();
        expect(out.exit?.reason).toBe('cancelled');
        expect(out.events.filter((e) => e.type === 'exit')).toHaveLength(1);
        expect(out.elapsedMs).toBeLessThan(20_000);
      },
    );

    it('kills the process when unsubscribed before exit', { timeout: TEST_TIMEOUT_MS }, async () => {
      const observable = await exec(shSpec('echo ready; sleep 60', { killGraceMs: 2_000 }));
      let subscription: Subscription | undefined;
      const started = await new Promise<StartedEvent>((resolve, reject) => {
        let startedEvent: StartedEvent | undefined;
        subscription = observable.subscribe({
          next: (event) => {
            if (event.type === 'started') startedEvent = event;
            if (event.type === 'stdout' && startedEvent !== undefined) resolve(startedEvent);
          },
          error: reject,
          complete: () => reject(new Error('completed before it was unsubscribed')),
        });
      });
      subscription?.unsubscribe();
      if (options.isGone === undefined) return;
      const isGone = options.isGone;
      await waitFor(() => isGone(started), 15_000, 'the process to be gone after unsubscribe');
    });

    it('reports a missing program as an error notification', { timeout: TEST_TIMEOUT_MS }, async () => {
      const out = await collect(
        await exec({ ...shSpec(''), argv: ['beamline-contract-no-such-program', '--x'] }),
      );
      expect(out.error).toBeInstanceOf(Error);
      expect(isBeamlineError(out.error)).toBe(true);
      expect(out.events.filter((e) => e.type === 'exit')).toHaveLength(0);
    });

    it('runs several processes concurrently', { timeout: TEST_TIMEOUT_MS }, async () => {
      const count = 3;
      const timeline: { index: number; type: string; at: number }[] = [];
      const stdout = new Map<number, string>();
      const streams = await Promise.all(
        Array.from({ length: count }, async (_, index) =>
          (await exec(shSpec(`echo start-${index}; sleep 2; echo end-${index}`))).pipe(
            map((event) => ({ index, event })),
          ),
        ),
      );
      await new Promise<void>((resolve, reject) => {
        merge(...streams).subscribe({
          next: ({ index, event }) => {
            timeline.push({ index, type: event.type, at: Date.now() });
            if (event.type === 'stdout') stdout.set(index, (stdout.get(index) ?? '') + event.data.toString());
          },
          error: reject,
          complete: resolve,
        });
      });
      for (let index = 0; index < count; index++) {
        expect(stdout.get(index)).toBe(`start-${index}\nend-${index}\n`);
      }
      // Overlap: every process printed its first line before any of them exited.
      const firstOutput = Array.from({ length: count }, (_, index) =>
        Math.min(...timeline.filter((t) => t.index === index && t.type === 'stdout').map((t) => t.at)),
      );
      const exits = timeline.filter((t) => t.type === 'exit').map((t) => t.at);
      expect(exits).toHaveLength(count);
      expect(Math.max(...firstOutput)).toBeLessThan(Math.min(...exits));
    });
  });
}

function collect(
  observable: Observable<ProcessEvent>,
  onEvent?: (event: ProcessEvent) => void,
): Promise<Outcome> {
  const began = Date.now();
  const events: ProcessEvent[] = [];
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  return new Promise<Outcome>((resolve) => {
    const finish = (completed: boolean, error?: unknown): void => {
      const exit = events.findLast((e): e is ExitEvent => e.type === 'exit');
      resolve({
        events,
        completed,
        stdout: Buffer.concat(stdout),
        stderr: Buffer.concat(stderr),
        elapsedMs: Date.now() - began,
        ...(exit === undefined ? {} : { exit }),
        ...(error === undefined ? {} : { error }),
      });
    };
    observable.subscribe({
      next: (event) => {
        events.push(event);
        if (event.type === 'stdout') stdout.push(event.data);
        if (event.type === 'stderr') stderr.push(event.data);
        onEvent?.(event);
      },
      error: (error: unknown) => finish(false, error),
      complete: () => finish(true),
    });
  });
}

function repeatTo(pattern: string, length: number): Buffer {
  return Buffer.from(pattern.repeat(Math.ceil(length / pattern.length)).slice(0, length));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await delay(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
