import { requireService } from '@beamline/core/testing';
import { execFileSync } from 'node:child_process';
import { chownSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentProcess } from '../support/agent-process.js';
import { agentEnv } from '../support/fixtures.js';
import { useGoFixture } from '../support/go-fixture.js';
import type { FakeTask } from '../support/go-server.js';

const BUILD_IMAGE = fileURLToPath(new URL('../../scripts/build-stage-image.sh', import.meta.url));
const IMAGE = `alicetraint-standin-test:${process.pid}`;
const MACHINE = { id: 8, secret: 'docker-secret-0123456789' };
/** The agent runs as `nobody`, in the Docker socket's group (so it may talk to the engine, as a lab's user). */
const NOBODY = 65534;

function dockerAnswers(): boolean {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

const docker = (...args: string[]) => execFileSync('docker', args, { encoding: 'utf8' }).trim();
/** The ids of this example's containers (labelled by plugin-docker), running or not. */
const containers = (): string[] =>
  docker(
    'ps',
    '-aq',
    '--filter',
    'label=io.beamline.project=alicetraint',
    '--filter',
    `label=io.beamline.owner=${NOBODY}`,
  )
    .split('\n')
    .filter(Boolean);

const run = requireService(
  'Docker',
  dockerAnswers(),
  'Run packages/plugin-docker/scripts/setup-test-env.sh as root (installs and starts dockerd).',
);

describe.runIf(run)('stages in containers (ALICETRAINT_STAGE_IMAGE), on the Docker engine', () => {
  let as: { uid: number; gid: number };
  beforeAll(() => {
    execFileSync('bash', [BUILD_IMAGE, IMAGE], { stdio: 'ignore', timeout: 120_000 });
    as = { uid: NOBODY, gid: statSync('/var/run/docker.sock').gid };
  }, 150_000);
  afterAll(() => {
    execFileSync('docker', ['image', 'rm', '-f', IMAGE], { stdio: 'ignore' });
  });
  const f = useGoFixture(MACHINE, {
    prepare: (dir) => chownTree(dir, as.uid, as.gid),
    cleanUp: () => {
      for (const id of containers()) docker('rm', '-f', id);
    },
  });

  function start(extra: Record<string, string> = {}): AgentProcess {
    const env = {
      ...agentEnv(f.aods.dir, f.server.url, f.storage.url, MACHINE),
      ALICETRAINT_STAGE_IMAGE: IMAGE,
    };
    return f.programs.start({ ...env, ...extra }, [], as);
  }
  const log = (task: FakeTask, name: string) =>
    task.results.find((r) => r.Name === name)?.Data.toString() ?? '';

  it('runs a whole task with its stages in containers as the agent user: the same uploads as on the host', async () => {
    const data = join(f.aods.dir, 'agent', 'data');
    const probes = [
      join(data, 'probe'),
      join(data, 'tasks', '80', 'raw', 'probe'),
      join(f.aods.dir, 'grid-cache', 'probe'),
      join(f.aods.dir, 'agent', 'results', '80', 'probe'),
      join(data, 'tasks', '80', 'probe'),
    ];
    const task = f.server.addTask({
      ID: 80,
      AODFiles: f.aods.aods,
      Configuration: { epochs: 3, standin: { tryWrite: { train: probes } } },
    });
    const agent = start();
    await agent.waitFor(/task 80: (completed|failed)/, 150_000);
    expect(agent.output).toMatch(/task 80: completed/);
    expect(task.posted).toEqual([3, 4]);
    const names = task.results.map((r) => r.Name);
    for (const stage of [
      'pidml_producer',
      'pdi_process',
      'pdi_data_exploration',
      'pdi_train',
      'pdi_benchmark',
    ]) {
      expect(names).toContain(`${stage}_out.log`);
      const out = log(task, `${stage}_out.log`);
      // The stage's own process: the agent's uid, not root; no GPU on this machine.
      expect(out, stage).toContain(`running as uid ${NOBODY} gid ${as.gid}`);
      expect(out, stage).toContain(`in a container of ${IMAGE} as ${NOBODY}:${as.gid}, no GPU`);
    }
    expect(names.filter((n) => n.endsWith('.onnx')).sort()).toEqual(
      ['antikaon', 'antipion', 'antiproton', 'kaon', 'pion', 'proton'].map((n) => `${n}.onnx`),
    );
    expect(names).toContain('species.png');
    // The data folder, the task's AODs and the cache are read-only in the container (the agent's own
    // user could write them on the host); the task's work and results folders are writable.
    const train = log(task, 'pdi_train_out.log');
    for (const probe of probes.slice(0, 3)) expect(train).toContain(`write ${probe}: refused (EROFS)`);
    for (const probe of probes.slice(3)) expect(train).toContain(`write ${probe}: allowed`);
    agent.kill('SIGTERM');
    expect((await agent.exited).code).toBe(0);
    // Nothing the task left on the host belongs to root; no container is left behind.
    expect(rootOwned(f.aods.dir)).toEqual([]);
    expect(containers()).toEqual([]);
  });

  it('refuses to start (status 2, before any poll) when the Docker engine does not answer', async () => {
    const agent = start({ DOCKER_HOST: `unix://${join(f.aods.dir, 'no-docker.sock')}` });
    expect((await agent.exited).code).toBe(2);
    expect(agent.output).toMatch(/ALICETRAINT_STAGE_IMAGE is set, but the Docker engine does not answer/);
    expect(f.server.requests).toEqual([]);
  });

  it('a failing stage in a container posts Failed after uploading its logs', async () => {
    const task = f.server.addTask({
      ID: 81,
      AODFiles: f.aods.aods,
      Configuration: { epochs: 2, standin: { fail: 'train' } },
    });
    const agent = start();
    await agent.waitFor(/task 81: (completed|posted Failed)/, 150_000);
    expect(task.posted).toEqual([0]);
    expect(log(task, 'pdi_train_err.log')).toMatch(/train: failing as the task's configuration asks/);
    expect(log(task, 'pdi_train_err.log')).toMatch(/exited with code 3/);
    expect(containers()).toEqual([]);
    agent.kill('SIGTERM');
    await agent.exited;
  });

  it('an image the engine does not have and cannot pull fails the task, with the stage logs', async () => {
    const task = f.server.addTask({ ID: 84, AODFiles: f.aods.aods, Configuration: { epochs: 2 } });
    const agent = start({ ALICETRAINT_STAGE_IMAGE: 'alicetraint-absent.invalid/standin:0.0.1' });
    await agent.waitFor(/task 84: (completed|posted Failed)/, 150_000);
    expect(task.posted).toEqual([0]);
    // The first container stage fails with the engine's error in its uploaded logs; nothing runs after it.
    expect(log(task, 'pidml_producer_err.log')).toMatch(/alicetraint-absent\.invalid/);
    expect(task.results.map((r) => r.Name)).toEqual([
      'grid_download_out.log',
      'grid_download_err.log',
      'pidml_producer_out.log',
      'pidml_producer_err.log',
    ]);
    agent.kill('SIGTERM');
    await agent.exited;
  });

  it('the task GPU ids, not all GPUs, are asked of the engine', async () => {
    // This machine has no NVIDIA runtime: the engine refuses device 1, and the task fails with the logs.
    const task = f.server.addTask({ ID: 82, AODFiles: f.aods.aods, Configuration: { epochs: 2 } });
    const agent = start({ ALICETRAINT_GPUS: '1' });
    await agent.waitFor(/task 82: (completed|posted Failed)/, 150_000);
    expect(log(task, 'pdi_train_out.log')).toContain(
      `in a container of ${IMAGE} as ${NOBODY}:${as.gid}, GPUs 1`,
    );
    // Where the engine has an NVIDIA runtime, device 1 may exist: then only the request is checked.
    if (!docker('info', '--format', '{{json .Runtimes}}').includes('nvidia')) {
      expect(task.posted).toEqual([0]);
      expect(log(task, 'pdi_train_err.log')).toMatch(/GPU|device/i);
    }
    expect(containers()).toEqual([]);
    agent.kill('SIGTERM');
    await agent.exited;
  });

  it('kill -9 mid-stage leaves the container running; the restart removes it and resumes; SIGTERM removes it too', async () => {
    const task = f.server.addTask({
      ID: 83,
      AODFiles: f.aods.aods,
      Configuration: { epochs: 2, standin: { sleepMs: { train: 8000 } } },
    });
    const first = start();
    await first.waitFor(/train: sleeping 8000 ms/, 150_000);
    const [orphan] = containers();
    expect(orphan).toBeDefined();
    first.kill('SIGKILL');
    await first.exited;
    expect(docker('inspect', '-f', '{{.State.Running}}', orphan!)).toBe('true');

    const second = start();
    await second.waitFor(/task 83: resuming run/, 60_000);
    // The janitor (plugin-docker, at the runtime's start) removed the dead agent's container.
    expect(containers()).not.toContain(orphan);

    // SIGTERM mid-stage stops the stage's container (SIGTERM, grace, SIGKILL), removes it and exits 0.
    await second.waitFor(/train: sleeping 8000 ms/, 150_000);
    expect(containers()).toHaveLength(1);
    second.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    expect(second.output).toMatch(/task 83: stopped; it resumes at the next start/);
    expect(containers()).toEqual([]);

    const third = start();
    await third.waitFor(/task 83: (completed|posted Failed)/, 150_000);
    expect(task.posted).toEqual([3, 4]);
    // Stages finished before the kill are neither run nor uploaded again.
    expect(task.results.filter((r) => r.Name === 'pdi_process_out.log')).toHaveLength(1);
    expect(task.results.filter((r) => r.Name === 'pdi_train_out.log')).toHaveLength(1);
    expect(containers()).toEqual([]);
    third.kill('SIGTERM');
    expect((await third.exited).code).toBe(0);
  });
});

function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (!statSync(path).isDirectory()) return;
  for (const entry of readdirSync(path)) chownTree(join(path, entry), uid, gid);
}

function rootOwned(path: string): string[] {
  const s = statSync(path);
  const found = s.uid === 0 ? [path] : [];
  if (!s.isDirectory()) return found;
  return found.concat(...readdirSync(path).map((e) => rootOwned(join(path, e))));
}
