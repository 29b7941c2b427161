import { createRuntime, SqliteStore, type RunEvent, type Runtime, type RuntimeEvent } from '@beamline/core';
import { requireService } from '@beamline/core/testing';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  cancelProjectJobs,
  sharedDir,
  showJob,
  slurmAvailable,
  slurmToken,
  SLURM_URL,
} from '../../test/cluster.js';
import { SlurmClient } from '../client/slurm-client.js';
import { isGone } from '../client/records.js';
import { createSlurmPlugin, type SlurmPluginOptions } from './create-slurm-plugin.js';

const available = requireService(
  'slurm',
  slurmAvailable(),
  'Run packages/plugin-slurm/scripts/setup-test-env.sh as root (one-node Slurm with slurmrestd and JWT).',
);

const PROJECT = 'bl-test-pipeline';
const fixture = fileURLToPath(new URL('../../test/fixtures/run-slurm-pipeline.ts', import.meta.url));
const runtimes: Runtime[] = [];
const children: ChildProcess[] = [];

async function runtimeIn(cwd: string, options: Partial<SlurmPluginOptions> = {}): Promise<Runtime> {
  const runtime = await createRuntime({
    cwd,
    plugins: [
      createSlurmPlugin({
        url: SLURM_URL,
        token: () => slurmToken(),
        project: PROJECT,
        outputDir: sharedDir('pipeline'),
        ...options,
      }),
    ],
  });
  runtimes.push(runtime);
  return runtime;
}

afterEach(async () => {
  for (const runtime of runtimes.splice(0)) await runtime.close();
  for (const child of children.splice(0)) child.kill('SIGKILL');
});
afterAll(() => cancelProjectJobs(PROJECT));

describe.runIf(available)('pipelines with runner: slurm', () => {
  it('runs a step on the cluster by changing one line: logs, metrics, outputs, the job in the step record', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'beamline-slurm-pipe-'));
    const runtime = await runtimeIn(cwd);
    const run = await runtime.run({
      name: 'moved',
      steps: {
        prepare: { uses: 'exec', with: { command: 'echo local > prepared.txt' } },
        train: {
          uses: 'exec',
          runner: 'slurm',
          needs: ['prepare'],
          resources: { cpus: 2, memory: '512m', gpus: 1 },
          timeout: '5m',
          with: {
            command:
              'echo "node $SLURMD_NODENAME gpu $CUDA_VISIBLE_DEVICES"; echo "::metric loss=0.25 step=1"; echo "::output model=m.onnx"; cat prepared.txt > trained.txt',
            outputs: { result: 'trained.txt' },
          },
        },
      },
    });
    const events: RunEvent[] = [];
    run.events$.subscribe((e) => events.push(e));
    const result = await run.done;
    expect(result.status).toBe('succeeded');
    expect(readFileSync(path.join(cwd, 'trained.txt'), 'utf8')).toBe('local\n');
    expect(result.steps.train?.outputs).toMatchObject({
      exitCode: 0,
      model: 'm.onnx',
      result: path.join(cwd, 'trained.txt'),
    });
    const of = <T extends RunEvent['type']>(type: T) =>
      events.filter(
        (e): e is Extract<RunEvent, { type: T }> => e.type === type && 'stepId' in e && e.stepId === 'train',
      );
    expect(of('metric')).toEqual([expect.objectContaining({ name: 'loss', value: 0.25, step: 1 })]);
    const process = of('process')[0]?.process;
    expect(process).toMatchObject({
      runner: 'slurm',
      jobId: expect.stringMatching(/^\d+$/) as string,
      gpus: [expect.any(String)],
    });
    // The GPU Slurm granted is the one the step saw.
    expect(
      of('log')
        .map((e) => e.text)
        .join(''),
    ).toContain(`gpu ${process?.gpus?.[0]}`);
    // The engine took nothing from this host's pool: its started event records the request, no local ids.
    expect(of('started')[0]?.resources).toEqual({ cpus: 2, memoryMb: 512, gpus: [] });
    const job = showJob(process?.jobId ?? '');
    expect(job).toMatchObject({ JobName: `beamline/${run.id}/train`, NumCPUs: '2', TimeLimit: '00:07:00' });
  });

  it('names a runner per cluster from config', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'beamline-slurm-pipe-'));
    const runtime = await runtimeIn(cwd, {
      clusters: [
        {
          name: 'small-queue',
          url: SLURM_URL,
          token: () => slurmToken(),
          partition: 'small',
          project: PROJECT,
        },
      ],
    });
    const run = await runtime.run({
      name: 'two-clusters',
      steps: {
        a: { uses: 'exec', runner: 'slurm', with: { command: 'echo "$SLURM_JOB_PARTITION"' } },
        b: { uses: 'exec', runner: 'small-queue', with: { command: 'echo "$SLURM_JOB_PARTITION"' } },
      },
    });
    const logs: string[] = [];
    run.events$.subscribe((e) => e.type === 'log' && logs.push(`${e.stepId}:${e.text}`));
    expect((await run.done).status).toBe('succeeded');
    expect(logs.sort()).toEqual(['a:main\n', 'b:small\n']);
  });

  it("fails a step with Slurm's reason and stops it at its timeout", async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'beamline-slurm-pipe-'));
    const runtime = await runtimeIn(cwd, { partition: 'small' });
    const run = await runtime.run({
      name: 'limits',
      steps: {
        big: { uses: 'exec', runner: 'slurm', needs: [], resources: { cpus: 8 }, with: { command: 'true' } },
        slow: { uses: 'exec', runner: 'slurm', needs: [], timeout: '2s', with: { command: 'sleep 300' } },
      },
    });
    const result = await run.done;
    expect(result.steps.big?.error).toMatchObject({ code: 'SLURM_RESOURCES_UNAVAILABLE', retryable: false });
    expect(result.steps.slow?.error).toMatchObject({ code: 'CORE_TIMEOUT' });
  });

  for (const janitorOnStart of [true, false]) {
    it(
      `kill -9 of the pipeline process, then resume: the job is ${janitorOnStart ? 'cancelled by the janitor' : 'stopped by resume'}, never run twice at once`,
      { timeout: 180_000 },
      async () => {
        const cwd = mkdtempSync(path.join(os.tmpdir(), 'beamline-slurm-crash-'));
        const outputDir = sharedDir('crash');
        writeFileSync(
          path.join(cwd, 'pipeline.yaml'),
          [
            'name: crash',
            'steps:',
            '  long:',
            '    uses: exec',
            '    runner: slurm',
            '    with:',
            '      command: "echo start $SLURM_JOB_ID >> jobs.log; [ -f fast ] || sleep 300; echo end $SLURM_JOB_ID >> jobs.log"',
            '',
          ].join('\n'),
        );
        const child = spawn(
          process.execPath,
          ['--conditions=source', '--import', 'tsx', fixture, cwd, 'pipeline.yaml', PROJECT, outputDir],
          {
            cwd: path.dirname(fixture),
            env: {
              ...process.env,
              TSX_TSCONFIG_PATH: fileURLToPath(new URL('../../tsconfig.scripts.json', import.meta.url)),
            },
            stdio: ['ignore', 'pipe', 'inherit'],
          },
        );
        children.push(child);
        const runId = await new Promise<string>((resolve, reject) => {
          child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString().trim().split('\n')[0]!));
          child.once('exit', (code) => reject(new Error(`the pipeline process exited early with ${code}`)));
        });
        // Wait until the job runs and the engine recorded it, then kill the pipeline process.
        const log = path.join(cwd, 'jobs.log');
        const store = SqliteStore.open({ cwd });
        let recorded: string | undefined;
        for (let i = 0; i < 600 && recorded === undefined; i++) {
          recorded = (await store.runState(runId))?.steps.long?.process?.jobId;
          if (recorded === undefined) await new Promise((r) => setTimeout(r, 100));
        }
        await store.close();
        const firstJob = Number(recorded);
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
        expect(showJob(firstJob)?.JobState).toBe('RUNNING');

        writeFileSync(path.join(cwd, 'fast'), '');
        const warnings: RuntimeEvent[] = [];
        const runtime = await runtimeIn(cwd, { janitorOnStart, outputDir });
        runtime.events$.subscribe((e) => warnings.push(e));
        // Whichever stopped it, the first job is gone before anything runs again.
        const client = new SlurmClient({ url: SLURM_URL, token: slurmToken() });
        const first = await client.job(firstJob);
        client.close();
        expect(first === undefined || isGone(first)).toBe(true);
        expect(first?.state).toBe('CANCELLED');
        const messages = warnings.map((w) => w.message).join('\n');
        if (janitorOnStart) expect(messages).toMatch(/cancelled 1 orphaned job/);
        else expect(messages).toContain(`Stopped job ${firstJob} (runner slurm) of step "long"`);

        const resumed = await runtime.resume(runId);
        const result = await resumed.done;
        expect(result.status).toBe('succeeded');
        const lines = readFileSync(log, 'utf8').trim().split('\n');
        const second = Number(/start (\d+)/.exec(lines[1] ?? '')?.[1]);
        expect(lines).toEqual([`start ${firstJob}`, `start ${second}`, `end ${second}`]);
        // Never side by side: the first job had ended before the second started.
        const ended = showJob(firstJob)?.EndTime ?? '';
        const began = showJob(second)?.StartTime ?? '';
        expect(ended <= began).toBe(true);
      },
    );
  }
});
