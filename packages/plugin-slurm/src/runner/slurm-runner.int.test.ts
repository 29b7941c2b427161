import { requireService, runnerContractSuite } from '@beamline/core/testing';
import { SlurmClient } from '../client/slurm-client.js';
import { scontrolToken } from '../client/token.js';
import { isGone } from '../client/records.js';
import { jobProcesses, sharedDir, slurmAvailable, slurmToken, SLURM_URL } from '../../test/cluster.js';
import { SlurmRunner } from './slurm-runner.js';

const available = requireService(
  'slurm',
  slurmAvailable(),
  'Run packages/plugin-slurm/scripts/setup-test-env.sh as root (one-node Slurm with slurmrestd and JWT).',
);

if (available) {
  let runner: SlurmRunner | undefined;
  const client = new SlurmClient({ url: SLURM_URL, token: () => slurmToken() });
  runnerContractSuite('SlurmRunner', {
    create: () =>
      (runner = new SlurmRunner({
        url: SLURM_URL,
        token: scontrolToken(),
        outputDir: sharedDir('contract'),
        project: 'bl-test-contract',
      })),
    cwd: '/tmp',
    // Gone means: Slurm no longer has it in the queue or on the node, and no process of it is left.
    isGone: async (started) => {
      const job = await client.job(Number(started.jobId));
      return (job === undefined || isGone(job)) && jobProcesses(started.jobId ?? '').length === 0;
    },
    dispose: async () => {
      await runner?.dispose();
      client.close();
    },
  });
}
