import type { Artifact, RunEvent, RunEventInit } from '@beamline/core';

/** Stamps event bodies with run id, seq and time, the way the engine does. */
export function stamp(
  runId: string,
  bodies: readonly RunEventInit[],
  start = 1_700_000_000_000,
  stepMs = 100,
): RunEvent[] {
  return bodies.map((body, index) => ({ ...body, runId, seq: index + 1, time: start + index * stepMs }));
}

/** An artifact record for tests. */
function artifact(name: string, path: string, size: number): Artifact {
  return { name, path, size, sha256: 'ab'.repeat(32), kind: 'file' };
}

const KEY_PARTS = { command: 'exec', commandVersion: '1', params: '{}', inputs: {}, runner: 'local@test' };

/** A small run: a succeeded step with progress and metrics, a cached step, a failed step. */
export function sampleRun(runId = 'run-1'): RunEvent[] {
  return stamp(runId, [
    { type: 'run-started', pipeline: 'demo', resumed: false },
    { type: 'queued', stepId: 'prepare' },
    {
      type: 'cached',
      stepId: 'prepare',
      key: 'k1',
      keyParts: KEY_PARTS,
      outputs: {},
      artifacts: [],
      fromRunId: 'run-0',
    },
    { type: 'queued', stepId: 'train' },
    {
      type: 'started',
      stepId: 'train',
      attempt: 1,
      resources: { cpus: 1, memoryMb: 0, gpus: ['0'] },
      key: 'k2',
      keyParts: KEY_PARTS,
    },
    { type: 'log', stepId: 'train', attempt: 1, stream: 'stdout', text: 'epoch 1\nepoch 2\n' },
    { type: 'progress', stepId: 'train', attempt: 1, current: 5, total: 10 },
    { type: 'metric', stepId: 'train', attempt: 1, name: 'loss', value: 0.123456, step: 5 },
    {
      type: 'artifact',
      stepId: 'train',
      attempt: 1,
      artifact: artifact('model', '/work/out/model.json', 2048),
    },
    {
      type: 'succeeded',
      stepId: 'train',
      attempt: 1,
      outputs: { model: 'out/model.json' },
      artifacts: [artifact('model', '/work/out/model.json', 2048)],
      durationMs: 1500,
    },
    {
      type: 'started',
      stepId: 'evaluate',
      attempt: 1,
      resources: { cpus: 1, memoryMb: 0, gpus: [] },
      key: 'k3',
      keyParts: KEY_PARTS,
    },
    { type: 'log', stepId: 'evaluate', attempt: 1, stream: 'stderr', text: 'boom: file missing' },
    {
      type: 'failed',
      stepId: 'evaluate',
      attempt: 1,
      error: { code: 'CORE_PROCESS_FAILED', message: 'exited with code 3', retryable: false },
      durationMs: 200,
    },
    {
      type: 'run-failed',
      error: { code: 'CORE_STEP_FAILED', message: 'step evaluate failed', retryable: false },
      durationMs: 2500,
    },
  ]);
}
