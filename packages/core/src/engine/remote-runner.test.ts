import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Observable } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunEvent, StepProcess } from '../contracts/events.js';
import type { Plugin } from '../contracts/plugin.js';
import type { ExecOptions, OrphanOutcome, ProcessEvent, ProcessSpec, Runner } from '../contracts/runner.js';
import type { Runtime, RuntimeEvent } from '../contracts/runtime.js';
import { planPipeline } from '../pipeline/plan-pipeline.js';
import { hostBootId, hostName } from '../process/process-identity.js';
import { createRuntime } from '../runtime/create-runtime.js';
import { MemoryStore } from '../store/memory-store.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { recordProcesses } from './record-processes.js';

/**
 * A runner whose work a cluster scheduler places, as plugin-slurm's: it records what `exec` was asked,
 * reports a job id, the node and the scheduler's GPU ids when the work starts, and can stop a recorded job.
 */
class ClusterRunner implements Runner {
  readonly name = 'cluster';
  readonly placement = 'remote' as const;
  readonly specs: ProcessSpec[] = [];
  readonly stopped: StepProcess[] = [];
  /** What happened, in order: `exec <jobId>`, `stop <jobId>`. */
  readonly timeline: string[] = [];
  private next = 1;
  /** Jobs that are still "running" on the cluster. */
  readonly live = new Set<string>();

  identity(): Promise<string> {
    return Promise.resolve('cluster:test');
  }

  exec(spec: ProcessSpec, options: ExecOptions = {}): Observable<ProcessEvent> {
    return new Observable<ProcessEvent>((subscriber) => {
      const jobId = `job-${this.next++}`;
      this.specs.push(spec);
      this.timeline.push(`exec ${jobId}`);
      this.live.add(jobId);
      subscriber.next({ type: 'started', jobId, node: 'node07', gpus: ['2', '3'], name: spec.name ?? '' });
      if (options.signal?.aborted) this.timeline.push(`aborted ${jobId}`);
      subscriber.next({ type: 'stdout', data: Buffer.from('ran\n') });
      this.live.delete(jobId);
      subscriber.next({ type: 'exit', code: 0, signal: null, oomKilled: false });
      subscriber.complete();
    });
  }

  stopOrphaned(recorded: StepProcess): Promise<OrphanOutcome> {
    this.stopped.push(recorded);
    const jobId = recorded.jobId ?? '';
    this.timeline.push(`stop ${jobId}`);
    return Promise.resolve(this.live.delete(jobId) ? 'stopped' : 'gone');
  }
}

function clusterPlugin(runner: Runner): Plugin {
  return { name: 'cluster', register: (registry) => registry.addRunner(runner) };
}

const runtimes: Runtime[] = [];
afterEach(async () => {
  for (const runtime of runtimes.splice(0)) await runtime.close();
});

async function runtimeWith(
  runner: Runner,
  options: Parameters<typeof createRuntime>[0] = {},
): Promise<Runtime> {
  const runtime = await createRuntime({
    store: new MemoryStore(),
    resources: { cpus: 2, memoryMb: 1024, gpus: [] },
    ...options,
    plugins: [clusterPlugin(runner)],
  });
  runtimes.push(runtime);
  return runtime;
}

describe('a runner whose work another scheduler places (placement: remote)', () => {
  it('gets the step request and time limit, takes nothing from the local pool, and its job is recorded', async () => {
    const runner = new ClusterRunner();
    // A host with 2 CPUs and no GPU: the step asks for more than it could ever grant.
    const runtime = await runtimeWith(runner);
    const run = await runtime.run({
      name: 'remote',
      steps: {
        train: {
          uses: 'exec',
          runner: 'cluster',
          with: { command: ['train.sh'] },
          resources: { cpus: 32, memory: '64g', gpus: 4 },
          timeout: '2h',
        },
      },
    });
    const events: RunEvent[] = [];
    run.events$.subscribe((event) => events.push(event));
    const result = await run.done;
    expect(result.status).toBe('succeeded');
    const spec = runner.specs[0];
    expect(spec?.request).toEqual({ cpus: 32, memoryMb: 64 * 1024, gpus: 4 });
    expect(spec?.timeLimitMs).toBe(2 * 3600 * 1000);
    // The engine enforces the step's timeout itself: the runner is not asked to stop at that time.
    expect(spec?.timeoutMs).toBeUndefined();
    const started = events.find((e) => e.type === 'started');
    expect(started?.type === 'started' && started.resources).toEqual({
      cpus: 32,
      memoryMb: 64 * 1024,
      gpus: [],
    });
    const recorded = events.find((e) => e.type === 'process');
    expect(recorded?.type === 'process' && recorded.process).toMatchObject({
      runner: 'cluster',
      jobId: 'job-1',
      node: 'node07',
      gpus: ['2', '3'],
    });
  });

  it("describes the step's files: the run's folder, its needs' artifacts with digests, its declared outputs", async () => {
    const runner = new ClusterRunner();
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'beamline-remote-'));
    // The runner writes nothing: the files its steps declare are there already.
    mkdirSync(path.join(cwd, 'out'));
    writeFileSync(path.join(cwd, 'out', 'model.bin'), 'weights');
    writeFileSync(path.join(cwd, 'score.txt'), '0.9');
    writeFileSync(path.join(cwd, 'data.csv'), 'a,b');
    const runtime = await runtimeWith(runner, { cwd });
    const run = await runtime.run({
      name: 'files',
      steps: {
        prepare: {
          uses: 'exec',
          runner: 'cluster',
          needs: [],
          with: { command: ['prepare'], outputs: { data: 'data.csv' } },
        },
        train: {
          uses: 'exec',
          runner: 'cluster',
          needs: ['prepare'],
          with: { command: ['train'], outputs: { model: 'out/*.bin' } },
        },
        other: { uses: 'exec', runner: 'cluster', needs: [], with: { command: ['other'] } },
        evaluate: {
          uses: 'exec',
          runner: 'cluster',
          needs: ['train', 'other'],
          with: {
            // A step further up than its needs, read through an expression: its files are inputs too.
            command: ['eval', '${{ steps.prepare.outputs.data }}'],
            workdir: 'eval',
            outputs: { score: '../score.txt', all: ['../score.txt'] },
          },
        },
      },
    });
    expect((await run.done).status).toBe('succeeded');
    const byName = new Map(runner.specs.map((spec) => [spec.name, spec.files]));
    const data = {
      path: path.join(cwd, 'data.csv'),
      sha256: createHash('sha256').update('a,b').digest('hex'),
      size: 3,
    };
    expect(byName.get('train')).toEqual({
      root: cwd,
      inputs: [data],
      outputs: { dir: cwd, patterns: ['out/*.bin'] },
    });
    expect(byName.get('other')).toEqual({ root: cwd, inputs: [] });
    expect(byName.get('evaluate')).toEqual({
      root: cwd,
      inputs: [
        {
          path: path.join(cwd, 'out', 'model.bin'),
          sha256: createHash('sha256').update('weights').digest('hex'),
          size: 7,
        },
        data,
      ],
      outputs: { dir: path.join(cwd, 'eval'), patterns: ['../score.txt'] },
    });
  });

  it('still refuses a request the local pool can never grant for a step on a local runner', async () => {
    const runtime = await runtimeWith(new ClusterRunner());
    await expect(
      runtime.run({
        name: 'local',
        steps: { big: { uses: 'exec', with: { command: ['true'] }, resources: { gpus: 4 } } },
      }),
    ).rejects.toMatchObject({ code: 'CORE_RESOURCES_UNSATISFIABLE' });
  });
});

describe('recordProcesses', () => {
  it('records the job id, node and GPU ids a cluster runner reports', async () => {
    const recorded: StepProcess[] = [];
    const runner = recordProcesses(new ClusterRunner(), (p) => recorded.push(p));
    await new Promise<void>((resolve) => runner.exec({ argv: ['x'] }).subscribe({ complete: resolve }));
    expect(recorded).toEqual([
      expect.objectContaining({
        runner: 'cluster',
        jobId: 'job-1',
        node: 'node07',
        gpus: ['2', '3'],
        host: hostName(),
      }),
    ]);
  });
});

describe('a cluster job left running by an engine that died', () => {
  /** A store holding a run whose engine is dead, while its step's job still runs on the cluster. */
  async function interruptedRun(
    cwd: string,
    runner: ClusterRunner,
  ): Promise<{ runId: string; process: StepProcess }> {
    const store = SqliteStore.open({ cwd });
    const plan = planPipeline(
      {
        name: 'crashed',
        steps: { train: { uses: 'exec', runner: 'cluster', with: { command: ['train.sh'] } } },
      },
      {
        hasCommand: () => true,
        commandNames: () => ['exec'],
        hasRunner: () => true,
        runnerNames: () => ['cluster'],
      },
    );
    const runId = 'run-crashed';
    await store.createRun({
      id: runId,
      pipeline: plan.pipeline,
      plan,
      params: {},
      cwd,
      createdAt: Date.now(),
    });
    // An owner process that no longer exists: the run is interrupted.
    const bootId = hostBootId();
    await store.claimRun(runId, {
      pid: 2 ** 22 + 17,
      host: hostName(),
      startTime: 1,
      ...(bootId ? { bootId } : {}),
    });
    const process: StepProcess = {
      runner: 'cluster',
      host: hostName(),
      jobId: 'job-0',
      node: 'node07',
      gpus: [],
    };
    runner.live.add('job-0');
    const time = Date.now();
    await store.append(runId, [
      { runId, seq: 1, time, type: 'run-started', pipeline: 'crashed', resumed: false },
      { runId, seq: 2, time, type: 'queued', stepId: 'train' },
      {
        runId,
        seq: 3,
        time,
        type: 'started',
        stepId: 'train',
        attempt: 1,
        resources: { cpus: 1, memoryMb: 0, gpus: [] },
        key: 'k',
        keyParts: { command: 'exec', commandVersion: '1', params: '{}', inputs: {}, runner: 'cluster:test' },
      },
      { runId, seq: 4, time, type: 'process', stepId: 'train', attempt: 1, process },
    ]);
    await store.close();
    return { runId, process };
  }

  it('is stopped through its runner when a runtime starts on the store, before anything runs', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'beamline-remote-'));
    const runner = new ClusterRunner();
    const { process } = await interruptedRun(cwd, runner);
    const warnings: RuntimeEvent[] = [];
    const runtime = await runtimeWith(runner, { cwd, store: SqliteStore.open({ cwd }) });
    runtime.events$.subscribe((event) => warnings.push(event));
    expect(runner.stopped).toEqual([expect.objectContaining({ jobId: process.jobId })]);
    expect(runner.live.has('job-0')).toBe(false);
    expect(warnings.map((w) => w.message)).toContainEqual(
      expect.stringContaining('Stopped job job-0 (runner cluster) of step "train"'),
    );
  });

  it('is stopped before resume runs the step again, so the step never runs twice at once', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'beamline-remote-'));
    const runner = new ClusterRunner();
    const { runId } = await interruptedRun(cwd, runner);
    // The runtime's start-up check finds the job live and stops it; so does resume, which finds it gone.
    runner.live.add('job-0');
    const runtime = await runtimeWith(runner, { cwd, store: SqliteStore.open({ cwd }) });
    runner.live.add('job-0');
    runner.timeline.length = 0;
    const resumed = await runtime.resume(runId);
    const events: RunEvent[] = [];
    resumed.events$.subscribe((event) => events.push(event));
    const result = await resumed.done;
    expect(result.status).toBe('succeeded');
    expect(runner.timeline).toEqual(['stop job-0', 'exec job-1']);
    const note = events.find((e) => e.type === 'log' && e.stream === 'system');
    expect(note?.type === 'log' && note.text).toBe(
      'Stopped job job-0 (runner cluster) that attempt 1 left running when its engine died.\n',
    );
  });

  it('is reported, and left, when its runner cannot stop it now', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'beamline-remote-'));
    const runner = new ClusterRunner();
    runner.stopOrphaned = () => Promise.reject(new Error('cluster unreachable'));
    await interruptedRun(cwd, runner);
    const warnings: RuntimeEvent[] = [];
    const runtime = await runtimeWith(runner, { cwd, store: SqliteStore.open({ cwd }) });
    runtime.events$.subscribe((event) => warnings.push(event));
    expect(warnings.map((w) => w.message)).toContainEqual(
      expect.stringContaining(
        'Could not stop job job-0 (runner cluster) of step "train", left running by interrupted run run-crashed: cluster unreachable',
      ),
    );
  });
});
