import type { ExecOptions, ProcessEvent, ProcessSpec } from '@beamline/core';
import { requireService } from '@beamline/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import {
  cancelProjectJobs,
  jobProcesses,
  queued,
  sharedDir,
  showJob,
  slurmAvailable,
  slurmToken,
  SLURM_URL,
  updatePartition,
} from '../../test/cluster.js';
import { scontrolToken } from '../client/token.js';
import { isSlurmError } from '../errors/slurm-error.js';
import { SlurmRunner, type SlurmRunnerOptions } from './slurm-runner.js';

const available = requireService(
  'slurm',
  slurmAvailable(),
  'Run packages/plugin-slurm/scripts/setup-test-env.sh as root (one-node Slurm with slurmrestd and JWT).',
);

const PROJECT = 'bl-test-behaviour';
const runners: SlurmRunner[] = [];

function runner(options: Partial<SlurmRunnerOptions> = {}): SlurmRunner {
  const created = new SlurmRunner({
    url: SLURM_URL,
    token: () => slurmToken(),
    outputDir: sharedDir('behaviour'),
    project: PROJECT,
    ...options,
  });
  runners.push(created);
  return created;
}

interface Outcome {
  events: ProcessEvent[];
  stdout: Buffer;
  stderr: Buffer;
  error?: unknown;
  /** ms from subscription to each event. */
  at: number[];
}

function collect(
  r: SlurmRunner,
  spec: ProcessSpec,
  options?: ExecOptions,
  onEvent?: (e: ProcessEvent) => void,
): Promise<Outcome> {
  const began = Date.now();
  const events: ProcessEvent[] = [];
  const at: number[] = [];
  return new Promise((resolve) => {
    const finish = (error?: unknown): void => {
      const pick = (type: 'stdout' | 'stderr'): Buffer =>
        Buffer.concat(events.flatMap((e) => (e.type === type ? [e.data] : [])));
      resolve({
        events,
        at,
        stdout: pick('stdout'),
        stderr: pick('stderr'),
        ...(error === undefined ? {} : { error }),
      });
    };
    r.exec(spec, options).subscribe({
      next: (event) => {
        events.push(event);
        at.push(Date.now() - began);
        onEvent?.(event);
      },
      error: finish,
      complete: () => finish(),
    });
  });
}

const started = (o: Outcome) =>
  o.events.find((e): e is Extract<ProcessEvent, { type: 'started' }> => e.type === 'started');
const exit = (o: Outcome) =>
  o.events.find((e): e is Extract<ProcessEvent, { type: 'exit' }> => e.type === 'exit');

afterAll(async () => {
  for (const r of runners) await r.dispose();
  await cancelProjectJobs(PROJECT);
});

describe.runIf(available)('SlurmRunner on a real cluster', () => {
  it('hands the step the GPU ids Slurm granted, and reports them in started', async () => {
    const r = runner();
    const spec = (gpus: number): ProcessSpec => ({
      argv: ['sh', '-c', 'printf %s "$CUDA_VISIBLE_DEVICES"; sleep 2'],
      request: { gpus },
    });
    const [a, b] = await Promise.all([collect(r, spec(1)), collect(r, spec(1))]);
    const ids = [started(a)?.gpus, started(b)?.gpus];
    // Two one-GPU jobs at once get the node's two GPUs, one each; each step sees exactly its own.
    expect(ids.flat().sort()).toEqual(['0', '1']);
    expect(a.stdout.toString()).toBe(ids[0]?.join(','));
    expect(b.stdout.toString()).toBe(ids[1]?.join(','));
    const both = await collect(r, spec(2));
    expect(started(both)?.gpus).toEqual(['0', '1']);
    expect(both.stdout.toString()).toBe('0,1');
    expect(started(both)).toMatchObject({
      node: expect.any(String) as string,
      jobId: expect.stringMatching(/^\d+$/) as string,
    });
  });

  it('streams output while the job runs, byte-exact, with the exit code from the job record', async () => {
    const script = [
      "printf 'first\\n'",
      'sleep 2',
      // Carriage returns, a NUL, invalid UTF-8, a long line without a newline, and no final newline.
      "printf 'a\\rb\\000c\\377\\376'",
      "head -c 300000 /dev/zero | tr '\\0' x",
      "printf 'tail-without-newline' >&2",
      'exit 77',
    ].join('\n');
    const out = await collect(runner(), { argv: ['sh', '-c', script] });
    expect(out.error).toBeUndefined();
    const firstOut = out.events.findIndex((e) => e.type === 'stdout');
    const exitAt = out.events.findIndex((e) => e.type === 'exit');
    // The first line arrived at least a second and a half before the job ended: incremental, not at the end.
    expect(out.at[exitAt]! - out.at[firstOut]!).toBeGreaterThan(1_500);
    expect(
      out.stdout.equals(
        Buffer.concat([Buffer.from('first\na\rb\0c'), Buffer.from([0xff, 0xfe]), Buffer.alloc(300_000, 'x')]),
      ),
    ).toBe(true);
    expect(out.stderr.toString()).toBe('tail-without-newline');
    expect(exit(out)).toEqual({ type: 'exit', code: 77, signal: null, oomKilled: false });
  });

  it('reports a job killed by its memory limit as such', async () => {
    // Node allocates and touches 400 MiB; the job may use 100 MiB.
    const hog = `const b = Buffer.alloc(400 * 1024 * 1024, 1); setTimeout(() => console.log(b.length), 20000);`;
    const out = await collect(runner(), { argv: [process.execPath, '-e', hog], request: { memoryMb: 100 } });
    expect(out.error).toBeUndefined();
    expect(exit(out)).toMatchObject({ oomKilled: true, code: null, signal: 'SIGKILL' });
    expect(out.stderr.toString()).toMatch(/slurmstepd.*(exceeded memory limit|Exceeded job memory limit)/);
  });

  it('cancels through the REST API and emits exit only once the job has left the queue and the node', async () => {
    const controller = new AbortController();
    let jobId = '';
    const out = await collect(
      runner(),
      // A child that ignores SIGTERM: it must still be gone when exit arrives.
      { argv: ['sh', '-c', "(trap '' TERM; sleep 300) & echo ready; wait"], killGraceMs: 1_000 },
      { signal: controller.signal },
      (event) => {
        if (event.type === 'started') jobId = event.jobId ?? '';
        if (event.type === 'stdout') controller.abort(new Error('test cancel'));
        if (event.type === 'exit') {
          // At the exit event, Slurm has it as finished and no process of it is left on the node.
          expect(queued('beamline/').some((j) => String(j.id) === jobId)).toBe(false);
          expect(jobProcesses(jobId)).toEqual([]);
        }
      },
    );
    expect(out.error).toBeUndefined();
    expect(exit(out)).toMatchObject({ reason: 'cancelled' });
    expect(showJob(jobId)?.JobState).toMatch(/CANCELLED|FAILED/);
  });

  it('cancels a job that has not started yet without waiting for it', async () => {
    // A job that cannot start now (it wants every CPU of the node while another job holds one).
    const r = runner();
    const blocker = new AbortController();
    const holding = collect(r, { argv: ['sleep', '60'] }, { signal: blocker.signal });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const controller = new AbortController();
    const waiting = collect(r, { argv: ['true'], request: { cpus: 16 } }, { signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const pending = queued('beamline/').filter((j) => j.state === 'PENDING');
    expect(pending.length).toBeGreaterThan(0);
    controller.abort(new Error('not needed any more'));
    const out = await waiting;
    expect(out.events.map((e) => e.type)).toEqual(['exit']);
    expect(exit(out)).toEqual({
      type: 'exit',
      code: null,
      signal: null,
      oomKilled: false,
      reason: 'cancelled',
    });
    blocker.abort(new Error('done'));
    await holding;
  });

  it("stops at the step's timeout and asks Slurm for a time limit that leaves room for the grace", async () => {
    let jobId = '';
    const out = await collect(
      runner(),
      { argv: ['sleep', '600'], timeoutMs: 1_500, killGraceMs: 2_000 },
      {},
      (e) => {
        if (e.type === 'started') jobId = e.jobId ?? '';
      },
    );
    expect(exit(out)).toMatchObject({ reason: 'timeout', code: null, signal: 'SIGTERM' });
    // 1.5 s + 2 s of grace, rounded up to a minute, plus a minute for polling and Slurm's KillWait.
    expect(showJob(jobId)?.TimeLimit).toBe('00:02:00');
  });

  it('uses timeLimitMs (the engine enforces it) only for --time', async () => {
    let jobId = '';
    const out = await collect(runner(), { argv: ['true'], timeLimitMs: 3 * 3600_000 }, {}, (e) => {
      if (e.type === 'started') jobId = e.jobId ?? '';
    });
    expect(exit(out)).toMatchObject({ code: 0 });
    expect(showJob(jobId)?.TimeLimit).toBe('03:02:00');
  });

  it('follows a job that outlives its first token: a token function is asked again before expiry', async () => {
    let issued = 0;
    const shortLived = scontrolToken({ lifespanSeconds: 8 });
    const r = runner({ token: () => (issued++, shortLived()) });
    const out = await collect(r, { argv: ['sh', '-c', 'sleep 12; echo done'] });
    expect(out.error).toBeUndefined();
    expect(out.stdout.toString()).toBe('done\n');
    expect(issued).toBeGreaterThanOrEqual(3);
  });

  it('speaks to slurmrestd over its Unix socket', async () => {
    const out = await collect(runner({ url: 'unix:/run/slurmrestd/slurmrestd.socket' }), {
      argv: ['echo', 'via socket'],
    });
    expect(out.error).toBeUndefined();
    expect(out.stdout.toString()).toBe('via socket\n');
  });

  it('reports a job scancelled outside Beamline with Slurm reason', async () => {
    const out = await collect(runner(), { argv: ['sh', '-c', 'echo up; sleep 60'] }, {}, (e) => {
      if (e.type === 'started') setTimeout(() => spawnScancel(e.jobId ?? ''), 500);
    });
    expect(isSlurmError(out.error, 'SLURM_JOB_CANCELLED')).toBe(true);
    expect(String((out.error as Error).message)).toMatch(/cancelled outside Beamline/);
  });
});

describe.runIf(available)('clear errors', () => {
  const code = (out: Outcome) => (isSlurmError(out.error) ? out.error.code : out.error);

  it('slurmrestd unreachable', async () => {
    const out = await collect(runner({ url: 'http://127.0.0.1:1' }), { argv: ['true'] });
    expect(code(out)).toBe('SLURM_UNREACHABLE');
    expect((out.error as Error).message).toMatch(/127\.0\.0\.1:1 is unreachable: ECONNREFUSED/);
  });

  it('a token that expired, and one Slurm rejects', async () => {
    const expired = slurmToken(undefined, 1);
    await new Promise((resolve) => setTimeout(resolve, 6_500));
    const late = await collect(runner({ token: expired }), { argv: ['true'] });
    expect(code(late)).toBe('SLURM_TOKEN_EXPIRED');
    expect((late.error as Error).message).toMatch(/expired at \d{4}-/);
    // A well-formed token signed with another key.
    const [head, body] = slurmToken().split('.');
    const forged = `${head}.${body}.${Buffer.from('not the signature').toString('base64url')}`;
    const rejected = await collect(runner({ token: forged }), { argv: ['true'] });
    expect(code(rejected)).toBe('SLURM_TOKEN_REJECTED');
  });

  it('a partition that does not exist, before submitting and from Slurm itself', async () => {
    const checked = await collect(runner({ partition: 'nope' }), { argv: ['true'] });
    expect(code(checked)).toBe('SLURM_PARTITION_UNKNOWN');
    expect((checked.error as Error).message).toBe(
      'partition "nope" does not exist on this cluster; it has main, small',
    );
    const refused = await collect(runner({ partition: 'nope', checkPartitionLimits: false }), {
      argv: ['true'],
    });
    expect(code(refused)).toBe('SLURM_PARTITION_UNKNOWN');
    expect((refused.error as Error).message).toBe(
      'Slurm refused the job: Invalid partition name specified (2000)',
    );
  });

  it('resources the partition cannot grant, before submitting; and the queued job Slurm would strand', async () => {
    const before = queued('beamline/').length;
    const checked = await collect(runner({ partition: 'small' }), {
      argv: ['true'],
      request: { cpus: 4, memoryMb: 2048 },
    });
    expect(code(checked)).toBe('SLURM_RESOURCES_UNAVAILABLE');
    expect((checked.error as Error).message).toMatch(
      /4 CPUs, but it allows 2 per node \(MaxCPUsPerNode\); and for 2048 MiB/,
    );
    const gpus = await collect(runner(), { argv: ['true'], request: { gpus: 3 } });
    expect((gpus.error as Error).message).toMatch(/3 GPU\(s\), but its nodes have at most 2/);
    // Unchecked, Slurm queues the job and says it cannot run: the job is withdrawn, the reason kept.
    const unchecked = await collect(runner({ partition: 'small', checkPartitionLimits: false }), {
      argv: ['true'],
      request: { cpus: 4 },
    });
    expect(code(unchecked)).toBe('SLURM_RESOURCES_UNAVAILABLE');
    expect((unchecked.error as Error).message).toMatch(
      /Requested partition configuration not available now \(2015\)/,
    );
    expect(queued('beamline/').length).toBe(before);
  });

  it('an account the partition does not allow, with Slurm reason', async () => {
    const restore = updatePartition('small', 'allowaccounts', 'physics', 'ALL');
    try {
      const out = await collect(runner({ partition: 'small', account: 'chem' }), { argv: ['true'] });
      expect(code(out)).toBe('SLURM_ACCOUNT_INVALID');
      expect((out.error as Error).message).toMatch(
        /(PartitionConfig|AccountNotAllowed): .*small allows physics/,
      );
    } finally {
      restore();
    }
  });

  it('a missing program and a missing working directory, as failures to start', async () => {
    const missing = await collect(runner(), { argv: ['beamline-no-such-program'] });
    expect(code(missing)).toBe('SLURM_SPAWN_FAILED');
    expect(missing.events.filter((e) => e.type === 'exit')).toEqual([]);
    const nowhere = await collect(runner(), { argv: ['true'], cwd: '/nonexistent/beamline' });
    expect(code(nowhere)).toBe('SLURM_SPAWN_FAILED');
  });
});

function spawnScancel(jobId: string): void {
  void import('node:child_process').then(({ execFile }) => execFile('scancel', [jobId]));
}
