import { currentProcessIdentity, hostBootId } from '@beamline/core';
import { requireService } from '@beamline/core/testing';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  cancelProjectJobs,
  OTHER_USER,
  sharedDir,
  slurmAvailable,
  slurmToken,
  SLURM_URL,
} from '../../test/cluster.js';
import { isGone } from '../client/records.js';
import { SlurmClient } from '../client/slurm-client.js';
import { encodeJobMark } from '../job/job-comment.js';
import { SlurmRunner } from '../runner/slurm-runner.js';

const available = requireService(
  'slurm',
  slurmAvailable(),
  'Run packages/plugin-slurm/scripts/setup-test-env.sh as root (one-node Slurm with slurmrestd and JWT).',
);

const PROJECT = 'bl-test-janitor';
const dir = available ? sharedDir('janitor') : '';
const bootId = hostBootId();
/** A pipeline process that no longer exists on this host. */
const deadOwner = { pid: 2 ** 22 + 23, host: hostname(), startTime: 1, ...(bootId ? { bootId } : {}) };

async function submit(client: SlurmClient, name: string, comment: string): Promise<number> {
  const { jobId } = await client.submit({
    script: '#!/bin/sh\nsleep 300\n',
    name,
    comment,
    cwd: '/tmp',
    stdout: path.join(dir, `${name}.out`),
    stderr: path.join(dir, `${name}.err`),
    environment: { PATH: '/usr/bin:/bin' },
  });
  return jobId;
}

describe.runIf(available)('the Slurm janitor', () => {
  const ours = new SlurmClient({ url: SLURM_URL, token: slurmToken() });
  const theirs = new SlurmClient({ url: SLURM_URL, token: slurmToken(OTHER_USER), user: OTHER_USER });
  const theirJobs: number[] = [];

  afterAll(async () => {
    for (const jobId of theirJobs) await theirs.cancel(jobId).catch(() => undefined);
    await cancelProjectJobs(PROJECT);
    ours.close();
    theirs.close();
  });

  it("cancels this owner's orphaned jobs, keeps live pipelines', reports other hosts', and never touches another user's", async () => {
    const mark = (owner: typeof deadOwner, project = PROJECT) =>
      encodeJobMark({ project, submission: `${Math.random()}`, owner, run: 'r', step: 's' });
    const orphan = await submit(ours, 'orphan', mark(deadOwner));
    const live = await submit(ours, 'live', mark({ ...currentProcessIdentity() } as typeof deadOwner));
    const remote = await submit(ours, 'remote', mark({ ...deadOwner, host: 'login02.elsewhere' }));
    const otherProject = await submit(ours, 'other-project', mark(deadOwner, 'someone-elses-project'));
    // Another user's job whose comment claims to be exactly such an orphan of ours: still not ours.
    const foreign = await submit(theirs, 'foreign', mark(deadOwner));
    theirJobs.push(foreign);
    expect((await theirs.job(foreign))?.user).toBe(OTHER_USER);

    const runner = new SlurmRunner({ url: SLURM_URL, token: slurmToken(), project: PROJECT, outputDir: dir });
    const report = await runner.janitor();
    await runner.dispose();

    expect(report.cancelled.map((e) => e.jobId)).toEqual([orphan]);
    expect(report.kept.map((e) => e.jobId)).toEqual([live]);
    expect(report.reported.map((e) => e.jobId)).toEqual([remote]);
    expect(report.failed).toEqual([]);
    const state = async (client: SlurmClient, jobId: number) => (await client.job(jobId))?.state;
    // The orphan is gone from queue and node when the janitor returns.
    const cancelled = await ours.job(orphan);
    expect(cancelled?.state).toBe('CANCELLED');
    expect(isGone(cancelled!)).toBe(true);
    for (const jobId of [live, remote, otherProject])
      expect(await state(ours, jobId)).toMatch(/PENDING|RUNNING/);
    expect(await state(theirs, foreign)).toMatch(/PENDING|RUNNING/);
    for (const jobId of [live, remote, otherProject]) await ours.cancel(jobId);
  });
});
