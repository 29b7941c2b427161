import type { ProcessEvent } from '@beamline/core';
import { requireService } from '@beamline/core/testing';
import { execFileSync, spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import {
  cancelProjectJobs,
  restartDaemon,
  restartSlurmrestd,
  sharedDir,
  slurmAvailable,
  slurmToken,
  SLURM_URL,
} from '../../test/cluster.js';
import { isSlurmError } from '../errors/slurm-error.js';
import { SlurmRunner } from './slurm-runner.js';

const available = requireService(
  'slurm',
  slurmAvailable(),
  'Run packages/plugin-slurm/scripts/setup-test-env.sh as root (one-node Slurm with slurmrestd and JWT).',
);

const PROJECT = 'bl-test-daemons';

function run(
  runner: SlurmRunner,
  argv: string[],
  onStarted: () => Promise<void>,
): Promise<{ events: ProcessEvent[]; error?: unknown }> {
  const events: ProcessEvent[] = [];
  return new Promise((resolve) => {
    runner.exec({ argv }).subscribe({
      next: (event) => {
        events.push(event);
        if (event.type === 'started') void onStarted();
      },
      error: (error: unknown) => resolve({ events, error }),
      complete: () => resolve({ events }),
    });
  });
}

describe.runIf(available)('Slurm daemons that go away while a job runs', () => {
  const runner = new SlurmRunner({
    url: SLURM_URL,
    token: () => slurmToken(),
    project: PROJECT,
    outputDir: sharedDir('daemons'),
  });
  afterAll(async () => {
    await runner.dispose();
    await cancelProjectJobs(PROJECT);
  });

  it(
    'follows a job through slurmctld, slurmd and slurmrestd restarts, losing no output',
    { timeout: 180_000 },
    async () => {
      const script = 'i=0; while [ $i -lt 24 ]; do echo tick $i; i=$((i+1)); sleep 0.5; done; exit 5';
      const out = await run(runner, ['sh', '-c', script], async () => {
        await restartDaemon('slurmctld');
        await restartDaemon('slurmd');
        await restartSlurmrestd();
      });
      expect(out.error).toBeUndefined();
      const stdout = Buffer.concat(
        out.events.flatMap((e) => (e.type === 'stdout' ? [e.data] : [])),
      ).toString();
      expect(stdout).toBe(Array.from({ length: 24 }, (_, i) => `tick ${i}\n`).join(''));
      expect(out.events.at(-1)).toEqual({ type: 'exit', code: 5, signal: null, oomKilled: false });
    },
  );

  it("reports a node failure as such, with Slurm's reason, retryable", { timeout: 120_000 }, async () => {
    const node = hostname().split('.')[0]!;
    try {
      const out = await run(runner, ['sleep', '120'], () => {
        execFileSync('scontrol', [
          'update',
          `nodename=${node}`,
          'state=down',
          'reason=beamline-test-node-failure',
        ]);
        return Promise.resolve();
      });
      expect(isSlurmError(out.error, 'SLURM_NODE_FAILED')).toBe(true);
      expect((out.error as Error & { retryable: boolean }).retryable).toBe(true);
      expect((out.error as Error).message).toMatch(/its node failed on node .* while its program ran/);
    } finally {
      // ReturnToService=2 may already have brought the node back when slurmd answered.
      spawnSync('scontrol', ['update', `nodename=${node}`, 'state=resume']);
    }
  });
});
