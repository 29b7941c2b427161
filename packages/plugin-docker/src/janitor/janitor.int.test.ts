import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { requireService } from '@beamline/core/testing';
import type { RuntimeEvent } from '@beamline/core';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupByLabel, dockerAvailable, TEST_IMAGE, TEST_PROJECT, testDocker } from '../../test/engine.js';
import { createDockerClient } from '../client/docker-client.js';
import { Engine } from '../client/engine.js';
import { currentProcess, jobLabels, type Ownership } from '../naming/labels.js';
import { DockerRunner } from '../runner/docker-runner.js';
import { createBody } from '../spec/create-body.js';
import { runJanitor } from './janitor.js';

const available = requireService(
  'docker',
  await dockerAvailable(),
  'Run packages/plugin-docker/scripts/setup-test-env.sh as root.',
);
const FOREIGN = 'bl-test-foreign-container';

describe.skipIf(!available)('janitor against a real engine', () => {
  const runner = new DockerRunner({ project: TEST_PROJECT, image: TEST_IMAGE, pullPolicy: 'never' });
  const engine = new Engine(createDockerClient());
  const ownership: Ownership = runner.ownership;

  /** Creates a container with the given owner process identity, optionally started and exited. */
  async function make(
    step: string,
    own: Partial<Ownership>,
    pid: number,
    state: 'created' | 'exited',
  ): Promise<string> {
    const job = runner.resolve({ image: TEST_IMAGE, cmd: ['true'], step });
    const labels = jobLabels({
      ownership: { ...ownership, ...own },
      process: {
        ...currentProcess(),
        pid,
        startTime: pid === process.pid ? (currentProcess().startTime ?? 0) : 1,
      },
      jobId: job.jobId,
      step,
    });
    const { Id } = await engine.createContainer(job.name, { ...createBody(job), Labels: labels });
    if (state === 'exited') {
      const { result } = await engine.registerWait(Id, 'next-exit');
      await engine.startContainer(Id);
      await result;
    }
    return Id;
  }

  afterAll(async () => {
    await cleanupByLabel();
    await testDocker
      .getContainer(FOREIGN)
      .remove({ force: true })
      .catch(() => undefined);
  });

  it('removes only this owner’s leftovers; foreign and other owners’ containers survive', async () => {
    const foreign = await testDocker.createContainer({ Image: TEST_IMAGE, Cmd: ['true'], name: FOREIGN });
    const deadPid = 2 ** 22 + 17; // above pid_max on most hosts: never a live process
    const exited = await make('exited', {}, deadPid, 'exited');
    const created = await make('created', {}, deadPid, 'created');
    const otherOwner = await make('other', { owner: 'someone-else' }, deadPid, 'exited');
    const otherProject = await make('other', { project: 'bl-test-other' }, deadPid, 'exited');
    const alive = await make('alive', {}, process.pid, 'created');

    const report = await runJanitor(runner.docker, { ownership });
    expect(report.removed.map((e) => e.id).sort()).toEqual([exited, created].sort());
    expect(report.kept.map((e) => e.id)).toEqual([alive]);
    for (const id of [foreign.id, otherOwner, otherProject, alive]) {
      await expect(testDocker.getContainer(id).inspect()).resolves.toBeDefined();
    }
    for (const id of [exited, created]) {
      await expect(testDocker.getContainer(id).inspect()).rejects.toMatchObject({ statusCode: 404 });
    }
    await engine.removeContainer(otherOwner);
    await engine.removeContainer(otherProject);
    await engine.removeContainer(alive);
  });

  it('stops and removes a running container whose owner process was killed with SIGKILL', async () => {
    const script = fileURLToPath(new URL('../../test/fixtures/long-job.ts', import.meta.url));
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', script], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'inherit'],
      // tsx applies a tsconfig only to the files it includes; this one also covers the core's decorators.
      env: { ...process.env, TSX_TSCONFIG_PATH: 'tsconfig.scripts.json' },
    });
    const id = await new Promise<string>((resolve, reject) => {
      let text = '';
      child.stdout.on('data', (b: Buffer) => {
        text += b.toString();
        const m = /started (\w+)/.exec(text);
        if (m?.[1]) resolve(m[1]);
      });
      child.on('exit', () => reject(new Error(`child exited early: ${text}`)));
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.on('exit', resolve));
    expect((await testDocker.getContainer(id).inspect()).State.Running).toBe(true);

    const report = await runner.janitor();
    expect(report.removed.map((e) => e.id)).toContain(id);
    await expect(testDocker.getContainer(id).inspect()).rejects.toMatchObject({ statusCode: 404 });
  }, 60_000);

  it('runs from the plugin start hook and reports to the runtime events', async () => {
    const { createDockerPlugin } = await import('../plugin/create-docker-plugin.js');
    const { createRuntime, MemoryStore } = await import('@beamline/core');
    const leftover = await make('leftover', {}, 2 ** 22 + 19, 'exited');
    const runtime = await createRuntime({
      store: new MemoryStore(),
      plugins: [createDockerPlugin({ project: TEST_PROJECT })],
    });
    try {
      // A late subscriber still gets the start-up report (replayed at once, on subscription).
      const reports: RuntimeEvent[] = [];
      runtime.events$.subscribe((e) => e.source === 'docker.janitor' && reports.push(e)).unsubscribe();
      expect(reports).toHaveLength(1);
      expect(reports[0]?.message).toMatch(/^removed \d+ leftover container/);
      expect((reports[0]?.details?.removed as Array<{ id: string }>).map((e) => e.id)).toContain(leftover);
      await expect(testDocker.getContainer(leftover).inspect()).rejects.toMatchObject({ statusCode: 404 });
    } finally {
      await runtime.close();
    }
  });

  it('reports a daemon that is down as a warning and starts anyway', async () => {
    const { createDockerPlugin } = await import('../plugin/create-docker-plugin.js');
    const { createRuntime, MemoryStore } = await import('@beamline/core');
    const runtime = await createRuntime({
      store: new MemoryStore(),
      plugins: [
        createDockerPlugin({ project: TEST_PROJECT, connection: { socketPath: '/nonexistent.sock' } }),
      ],
    });
    try {
      const warnings: RuntimeEvent[] = [];
      runtime.events$.subscribe((e) => warnings.push(e)).unsubscribe();
      expect(warnings.map((e) => [e.level, e.source])).toEqual([['warning', 'docker.janitor']]);
      expect(warnings[0]?.message).toContain('could not look for leftover containers');
    } finally {
      await runtime.close();
    }
  });
});
