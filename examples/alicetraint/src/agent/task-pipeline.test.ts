import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AgentConfig } from '../config/agent-config.js';
import { buildTaskPipeline } from './task-pipeline.js';

const CONFIG: AgentConfig = {
  machineId: '7',
  secretKey: 'secret',
  baseUrl: 'http://127.0.0.1:8088',
  dataDir: '/srv/alice/data',
  scriptsDir: '/srv/alice/scripts',
  venvDir: '/srv/alice/venv',
  resultsDir: '/srv/alice/results',
  pdiSrcDir: '/srv/alice/pdi',
  pollWaitMs: 20_000,
  stages: 'standin',
  heartbeatMs: 30_000,
  gpus: undefined,
  replicaBaseUrls: [],
  gridCacheDir: '/srv/alice/data/grid-cache',
  stageImage: undefined,
};
const TASK = { ID: 12, AODFiles: [], Configuration: {} };
const STAGES = ['producer', 'process', 'data-exploration', 'train', 'benchmark'];

describe('buildTaskPipeline', () => {
  it('runs the stages on the host by default, with the host node for the stand-ins', () => {
    const { steps } = buildTaskPipeline(TASK, CONFIG);
    for (const id of STAGES) {
      expect(steps[id]!.runner, id).toBeUndefined();
      expect((steps[id]!.with as { command: string[] }).command[0]).toBe(process.execPath);
      expect(steps[id]!.with).not.toHaveProperty('container');
    }
  });

  it('with a stage image, runs every stage after the download in a container, with its folders mounted', () => {
    const config = { ...CONFIG, stageImage: 'alicetraint-standin:1.0', gridCacheDir: '/cache' };
    const { steps } = buildTaskPipeline(TASK, config);
    expect(steps.download!.runner).toBeUndefined();
    const work = join(config.dataDir, 'tasks', '12');
    for (const id of STAGES) {
      const step = steps[id]!;
      expect(step.runner, id).toBe('docker');
      const w = step.with as { command: string[]; container: unknown };
      expect(w.command[0]).toBe('node');
      expect(w.container).toEqual({
        image: 'alicetraint-standin:1.0',
        mounts: [
          { source: config.dataDir, readOnly: true },
          { source: work, readOnly: false },
          { source: join(work, 'raw'), readOnly: true },
          { source: join(config.resultsDir, '12'), readOnly: false },
          { source: config.scriptsDir, readOnly: true },
          { source: '/cache', readOnly: true },
        ],
      });
    }
    // The GPU stages ask for the pool's GPUs (the engine grants explicit ids; none here is no error).
    expect(steps.train!.resources).toEqual({ gpus: 1, gpuOptional: true });
  });

  it('mounts the venv and the pdi sources read-only for the real stages', () => {
    const { steps } = buildTaskPipeline(TASK, { ...CONFIG, stages: 'pidml', stageImage: 'o2:1' });
    const { mounts } = (steps.train!.with as { container: { mounts: object[] } }).container;
    expect(mounts).toContainEqual({ source: CONFIG.venvDir, readOnly: true });
    expect(mounts).toContainEqual({ source: CONFIG.pdiSrcDir, readOnly: true });
    // The cache is inside the data folder: mounted with it.
    expect(mounts).not.toContainEqual({ source: CONFIG.gridCacheDir, readOnly: true });
  });
});
