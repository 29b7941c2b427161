import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireService } from '@beamline/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { BUSYBOX, removeTeamImages, writeSubmission } from '../test/support/submissions.js';
import { challengePaths, connectDocker, runChallenge, submit } from './challenge.js';
import { makePhantom, writePhantomDataset } from './data/phantom.js';

const docker = await connectDocker();
const hasImage = docker
  ? await docker
      .getImage(BUSYBOX)
      .inspect()
      .then(
        () => true,
        () => false,
      )
  : false;
const run = requireService(
  `a Docker engine with ${BUSYBOX}`,
  docker !== undefined && hasImage,
  'Run packages/plugin-docker/scripts/setup-test-env.sh as root.',
);

const petricContainers = async () =>
  (await docker!.listContainers({ all: true, filters: { label: ['io.beamline.petric.team=killed'] } })).map(
    (c) => c.State,
  );

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.runIf(run)('kill -9 of the runner mid-submission', () => {
  const root = mkdtempSync(join(tmpdir(), 'petric-kill-'));
  const paths = challengePaths(root);
  let child: ChildProcess | undefined;
  afterAll(async () => {
    if (child?.exitCode === null) child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
    if (docker) await removeTeamImages(docker, ['killed']);
  });

  it('leaves no container once a runner starts again, and the submission runs again from the start', async () => {
    const phantom = makePhantom({ dims: [10, 10, 3] });
    await writePhantomDataset(join(paths.data, 'nema'), phantom);
    await writeSubmission(join(root, 'ctx'), {
      nema: { phantom, fractions: Array.from({ length: 400 }, (_, k) => 1 - 0.97 ** k) },
    });
    await submit(root, {
      team: 'killed',
      version: 'v1',
      context: join(root, 'ctx'),
      command: ['/bin/sh', '/submission/run', '0.1'],
      docker: docker!,
    });

    child = spawn(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        'tsx',
        fileURLToPath(new URL('../test/support/run-child.ts', import.meta.url)),
        root,
        '4',
      ],
      {
        env: {
          ...process.env,
          TSX_TSCONFIG_PATH: fileURLToPath(new URL('../tsconfig.scripts.json', import.meta.url)),
        },
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    const dir = join(paths.logs, 'killed', 'v1', 'nema');
    // Wait until the container runs and metrics have been written, then kill the runner.
    const partial = await until('metrics from the first runner', async () => {
      const states = await petricContainers();
      const file = (existsSync(dir) ? readdirSync(dir, { withFileTypes: true }) : []).find((e) =>
        e.name.startsWith('events.out'),
      )?.name;
      return states.includes('running') && file && statSync(join(dir, file)).size > 2000 ? file : undefined;
    });
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    expect(await petricContainers()).toHaveLength(1); // the orphan lives on until a runner starts

    const { runs } = await runChallenge(root, {
      budgetSeconds: 4,
      hardLimitSeconds: 300,
      gpus: [],
      docker: docker!,
    });
    expect(runs).toHaveLength(2); // the interrupted run resumed, then the queue (from the cache)
    expect(runs[0]!.steps['killed-v1-nema']).toMatchObject({
      status: 'succeeded',
      outputs: { outcome: 'budget' },
    });
    expect(runs[1]!.steps['killed-v1-nema']!.status).toBe('cached');
    expect(await petricContainers()).toEqual([]);

    // The killed attempt's partial log is not a run: it was moved aside, one complete log remains.
    const logs = readdirSync(dir).filter((n) => n.startsWith('events.out'));
    expect(logs).toHaveLength(1);
    expect(logs[0]).not.toBe(partial);
    const superseded = readdirSync(join(paths.superseded, 'killed', 'v1', 'nema'), {
      recursive: true,
    }) as string[];
    expect(superseded.some((p) => p.endsWith(partial))).toBe(true);
  }, 240_000);
});
