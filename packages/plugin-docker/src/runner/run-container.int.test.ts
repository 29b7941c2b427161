import { mkdtemp, readdir, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { requireService } from '@beamline/core/testing';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  cleanupByLabel,
  collect,
  containersWith,
  dockerAvailable,
  TEST_IMAGE,
  TEST_PROJECT,
  testDocker,
} from '../../test/engine.js';
import { createDockerClient } from '../client/docker-client.js';
import { Engine } from '../client/engine.js';
import { isDockerError } from '../errors/docker-error.js';
import { createBody } from '../spec/create-body.js';
import { DockerRunner, type DockerRunnerOptions } from './docker-runner.js';

const available = requireService(
  'docker',
  await dockerAvailable(),
  'Run packages/plugin-docker/scripts/setup-test-env.sh as root.',
);
const PROJECT_LABEL = `io.beamline.project=${TEST_PROJECT}`;

const runner = (extra: DockerRunnerOptions = {}): DockerRunner =>
  new DockerRunner({
    project: TEST_PROJECT,
    image: TEST_IMAGE,
    pullPolicy: 'never',
    killGraceMs: 2000,
    ...extra,
  });
const sh = (script: string): string[] => ['sh', '-c', script];

async function expectNoContainers(): Promise<void> {
  expect(await containersWith(PROJECT_LABEL)).toEqual([]);
}

describe.skipIf(!available)('run sequence against a real engine', () => {
  afterEach(async () => {
    await expectNoContainers();
  });
  afterAll(async () => {
    await cleanupByLabel();
  });

  it('keeps stdout and stderr apart, without TTY line endings', async () => {
    const out = await collect(runner().run({ image: TEST_IMAGE, cmd: sh('echo OUT; echo ERR >&2') }));
    expect(out.stdout.toString()).toBe('OUT\n');
    expect(out.stderr.toString()).toBe('ERR\n');
    expect(out.exit).toMatchObject({ code: 0, signal: null, oomKilled: false });
  });

  it('reports exit 7 with AutoRemove in 40 of 40 runs, never a 404', async () => {
    const r = runner({ autoRemove: true });
    for (let i = 0; i < 40; i++) {
      const out = await collect(r.run({ image: TEST_IMAGE, cmd: sh('echo run; exit 7') }));
      expect(out.error).toBeUndefined();
      expect(out.stdout.toString()).toBe('run\n');
      expect(out.exit?.code).toBe(7);
    }
  }, 120_000);

  it('keeps exit code and output when the result is collected 300 ms after start (AutoRemove race)', async () => {
    const engine = new Engine(createDockerClient());
    const r = runner({ autoRemove: true });
    const job = r.resolve({ image: TEST_IMAGE, cmd: sh('printf 1234567890; exit 9') });
    const body = createBody(job);

    // The naive order (start, then wait) loses the exit code to the auto-removal: 404.
    const naive = await engine.createContainer(`${job.name}-naive`, body);
    await engine.startContainer(naive.Id);
    // However long the engine takes on a loaded machine: once it has removed the container, a wait
    // registered now finds nothing.
    for (let waited = 0; ; waited += 100) {
      const gone = await engine.inspectContainer(naive.Id).then(
        () => false,
        () => true,
      );
      if (gone) break;
      expect(waited, 'the auto-removal of the naive container').toBeLessThan(30_000);
      await sleep(100);
    }
    await expect(engine.registerWait(naive.Id, 'removed')).rejects.toMatchObject({ statusCode: 404 });

    // Attach and wait registered before start: a late reader still gets everything.
    const c = await engine.createContainer(job.name, body);
    const attach = await engine.attach(c.Id);
    const chunks: Buffer[] = [];
    attach.on('data', (b: Buffer) => chunks.push(b));
    const ended = new Promise((resolve) => attach.on('end', resolve).on('close', resolve));
    const { result } = await engine.registerWait(c.Id, 'removed');
    await engine.startContainer(c.Id);
    await sleep(300);
    expect((await result).StatusCode).toBe(9);
    await ended;
    expect(Buffer.concat(chunks).subarray(8).toString()).toBe('1234567890');
  });

  it('delivers several MB on both streams byte-exact, repeatedly', async () => {
    const r = runner();
    for (let i = 0; i < 3; i++) {
      const out = await collect(
        r.run({
          image: TEST_IMAGE,
          cmd: sh('head -c 3000000 /dev/zero | tr "\\0" o; head -c 2000000 /dev/zero | tr "\\0" e >&2'),
        }),
      );
      expect(out.stdout.length).toBe(3_000_000);
      expect(out.stderr.length).toBe(2_000_000);
      expect(out.stdout.every((b) => b === 0x6f)).toBe(true);
      expect(out.stderr.every((b) => b === 0x65)).toBe(true);
    }
  });

  it.each([false, true])('reports an OOM kill under a 32 MB limit (autoRemove %s)', async (autoRemove) => {
    const out = await collect(
      runner({ autoRemove }).run({
        image: TEST_IMAGE,
        memoryMb: 32,
        cmd: sh("x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"),
      }),
    );
    expect(out.error).toBeUndefined();
    expect(out.exit).toMatchObject({ oomKilled: true });
    expect(out.stdout.toString()).not.toContain('survived');
  });

  it('applies memory, CPU and PID limits visible in the cgroup files', async () => {
    const script = [
      'cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes',
      'cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us',
      'cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max',
      'for i in $(seq 1 100); do sleep 5 & done; echo forked',
    ].join('; ');
    const out = await collect(
      runner().run({ image: TEST_IMAGE, memoryMb: 64, cpus: 0.5, pids: 64, cmd: sh(script) }),
    );
    const lines = out.stdout.toString().trim().split('\n');
    expect(lines[0]).toBe('67108864');
    expect(lines[1]?.split(' ')[0]).toBe('50000');
    expect(lines[2]).toBe('64');
    expect(out.stderr.toString()).toMatch(/can't fork|Resource temporarily unavailable/);
  });

  it('has no network with network none, checked inside and on the created container', async () => {
    const r = runner();
    let networkMode: unknown;
    const out = await collect(
      r.run({ image: TEST_IMAGE, network: 'none', cmd: sh('ls /sys/class/net') }),
      (e) => {
        if (e.type === 'started') {
          void testDocker
            .getContainer(e.containerId ?? '')
            .inspect()
            .then((i) => (networkMode = i.HostConfig.NetworkMode))
            .catch(() => undefined);
        }
      },
    );
    expect(out.stdout.toString().trim()).toBe('lo');
    if (networkMode !== undefined) expect(networkMode).toBe('none');
  });

  it('has a read-only root with a writable /tmp', async () => {
    const out = await collect(
      runner().run({
        image: TEST_IMAGE,
        readOnlyRoot: true,
        tmpfs: { '/tmp': 'rw,mode=1777' },
        cmd: sh('echo x > /x; echo t > /tmp/t && cat /tmp/t'),
      }),
    );
    expect(out.stderr.toString()).toContain('Read-only file system');
    expect(out.stdout.toString()).toBe('t\n');
  });

  it('runs the TRE profile: read-only data, fresh outputs owned by the job user, scratch removed', async () => {
    const root = await mkdtemp(join(tmpdir(), 'bl-tre-'));
    const data = join(root, 'safe_data', 'proj');
    await mkdir(data, { recursive: true });
    await writeFile(join(data, 'in.txt'), 'input\n');
    const r = runner({ profile: 'tre', data, outputsRoot: root });
    const script = [
      'cat /safe_data/in.txt',
      'echo no > /safe_data/x 2>/dev/null && echo data-writable',
      'echo result > /safe_outputs/result.txt',
      'echo tmp > /scratch/s && echo scratch-ok',
      'echo home > "$HOME/h" && echo home-ok',
      'id -u; id -g',
      'ls /sys/class/net',
      'echo > /x 2>/dev/null || echo root-ro',
    ].join('; ');
    const out = await collect(r.run({ image: TEST_IMAGE, user: '1234:1234', cmd: sh(script) }));
    expect(out.error).toBeUndefined();
    expect(out.stdout.toString().split('\n')).toEqual([
      'input',
      'scratch-ok',
      'home-ok',
      '1234',
      '1234',
      'lo',
      'root-ro',
      '',
    ]);
    const entries = await readdir(root);
    const outputs = entries.filter((e) => e.startsWith('outputs_'));
    expect(outputs).toHaveLength(1);
    expect(entries.filter((e) => e.startsWith('scratch_'))).toEqual([]);
    const result = join(root, outputs[0] ?? '', 'result.txt');
    expect(await readFile(result, 'utf8')).toBe('result\n');
    const st = await stat(result);
    expect([st.uid, st.gid]).toEqual([1234, 1234]);
    expect(await readdir(data)).toEqual(['in.txt']);
    await rm(root, { recursive: true, force: true });
  });

  it('refuses a missing data folder without creating it', async () => {
    const root = await mkdtemp(join(tmpdir(), 'bl-tre-'));
    const data = join(root, 'missing');
    const out = await collect(
      runner({ profile: 'tre', data, outputsRoot: root }).run({ image: TEST_IMAGE, cmd: ['true'] }),
    );
    expect(isDockerError(out.error, 'DOCKER_MOUNT_SOURCE_MISSING')).toBe(true);
    await expect(stat(data)).rejects.toThrow();
    expect(await readdir(root)).toEqual([]);
    await rm(root, { recursive: true, force: true });
  });

  it('maps the daemon refusal of a missing bind source (remote check) to MOUNT_SOURCE_MISSING', async () => {
    const engine = new Engine(createDockerClient());
    const job = runner().resolve({
      image: TEST_IMAGE,
      cmd: ['true'],
      mounts: [{ source: '/nonexistent/bl-data', target: '/d' }],
    });
    const { classifyApiError } = await import('../errors/classify-error.js');
    const error = await engine.createContainer(job.name, createBody(job)).then(
      () => undefined,
      (e: unknown) => classifyApiError(e, 'create'),
    );
    expect(error?.code).toBe('DOCKER_MOUNT_SOURCE_MISSING');
    await expect(stat('/nonexistent/bl-data')).rejects.toThrow();
  });

  it('stops at the timeout (SIGTERM through init, fast) and removes the container', async () => {
    const began = Date.now();
    const out = await collect(runner().run({ image: TEST_IMAGE, cmd: ['sleep', '100'], timeoutMs: 1000 }));
    expect(out.exit).toMatchObject({ reason: 'timeout', code: null, signal: 'SIGTERM' });
    expect(Date.now() - began).toBeLessThan(1000 + 2000 + 1500);
  });

  it('without init, a PID 1 that ignores SIGTERM is killed after the grace period', async () => {
    const r = runner({ profiles: { noinit: { name: 'noinit', init: false } }, profile: 'noinit' });
    const began = Date.now();
    const out = await collect(
      r.run({ image: TEST_IMAGE, cmd: ['sleep', '100'], timeoutMs: 500, killGraceMs: 1000 }),
    );
    expect(out.exit).toMatchObject({ reason: 'timeout', signal: 'SIGKILL' });
    expect(Date.now() - began).toBeGreaterThanOrEqual(1400);
  });

  it('stops the container on cancel (not just the HTTP request)', async () => {
    const controller = new AbortController();
    const out = await collect(
      runner().run({ image: TEST_IMAGE, cmd: sh('echo ready; sleep 100') }, { signal: controller.signal }),
      (e) => {
        if (e.type === 'stdout') controller.abort();
      },
    );
    expect(out.exit?.reason).toBe('cancelled');
  });

  it.each([true, false])(
    'fails to start a command missing from the image (init %s) and leaves no container',
    async (init) => {
      const r = runner({ profiles: { p: { name: 'p', init } }, profile: 'p' });
      const out = await collect(r.run({ image: TEST_IMAGE, cmd: ['/nonexistent'] }));
      expect(isDockerError(out.error, 'DOCKER_START_FAILED')).toBe(true);
      expect(String((out.error as Error).message)).toMatch(/nonexistent/);
    },
  );

  it('reports a missing image as IMAGE_NOT_FOUND, not "no such container"', async () => {
    const out = await collect(runner().run({ image: 'beamline-test/absent:9.9', cmd: ['true'] }));
    expect(isDockerError(out.error, 'DOCKER_IMAGE_NOT_FOUND')).toBe(true);
    expect((out.error as Error).message).not.toMatch(/no such container/i);
  });

  it('reports an image without a command as NO_COMMAND', async () => {
    const out = await collect(runner().run({ image: TEST_IMAGE }));
    expect(isDockerError(out.error, 'DOCKER_NO_COMMAND')).toBe(true);
  });

  it('fails fast on a GPU request without the NVIDIA runtime, leaving nothing behind', async () => {
    const began = Date.now();
    const out = await collect(
      runner().exec({ image: TEST_IMAGE, argv: ['true'], resources: { cpus: 1, memoryMb: 0, gpus: ['0'] } }),
    );
    expect(isDockerError(out.error, 'DOCKER_GPU_UNAVAILABLE')).toBe(true);
    expect((out.error as Error).message).toMatch(/could not select device driver/);
    expect(Date.now() - began).toBeLessThan(5000);
  });

  it('names containers <project>-<step>-<id>, labels them, and refuses a clashing explicit name', async () => {
    const r = runner();
    const controller = new AbortController();
    let labels: Record<string, string> = {};
    let name = '';
    const first = collect(
      r.exec(
        { image: TEST_IMAGE, argv: sh('echo up; sleep 30'), name: 'train', labels: { 'beamline.run': 'r1' } },
        { signal: controller.signal },
      ),
      (e) => {
        if (e.type === 'started') name = e.name ?? '';
        if (e.type === 'stdout') {
          void testDocker
            .getContainer(name)
            .inspect()
            .then((i) => {
              labels = i.Config.Labels;
              controller.abort();
            });
        }
      },
    );
    await first;
    expect(name).toMatch(/^bl-test-train-[0-9a-f]{12}$/);
    expect(labels).toMatchObject({
      'io.beamline.managed': 'true',
      'io.beamline.project': TEST_PROJECT,
      'io.beamline.step': 'train',
      'io.beamline.run': 'r1',
      'beamline.run': 'r1',
      'io.beamline.pid': String(process.pid),
    });
    expect(Object.keys(labels)).toEqual(
      expect.arrayContaining([
        'io.beamline.owner',
        'io.beamline.job-id',
        'io.beamline.session',
        'io.beamline.host',
        'io.beamline.pid-start',
        'io.beamline.boot-id',
      ]),
    );

    const ctl = new AbortController();
    const holder = collect(
      r.run(
        { image: TEST_IMAGE, name: 'bl-test-fixed-name', cmd: sh('echo up; sleep 30') },
        { signal: ctl.signal },
      ),
      (e) => {
        if (e.type === 'stdout') {
          void collect(r.run({ image: TEST_IMAGE, name: 'bl-test-fixed-name', cmd: ['true'] })).then(
            (second) => {
              expect(isDockerError(second.error, 'DOCKER_NAME_CONFLICT')).toBe(true);
              ctl.abort();
            },
          );
        }
      },
    );
    expect((await holder).exit?.reason).toBe('cancelled');
  });

  it('has no client-wide timeout, even with DOCKER_CLIENT_TIMEOUT set: a quiet 4 s job completes', async () => {
    process.env.DOCKER_CLIENT_TIMEOUT = '1500';
    try {
      const out = await collect(runner().run({ image: TEST_IMAGE, cmd: sh('sleep 4; echo done') }));
      expect(out.stdout.toString()).toBe('done\n');
      expect(out.exit?.code).toBe(0);
    } finally {
      delete process.env.DOCKER_CLIENT_TIMEOUT;
    }
  });

  it('rejects a misspelled option before any API call', async () => {
    const out = await collect(
      runner({ connection: { socketPath: '/nonexistent.sock' } }).run({
        image: TEST_IMAGE,
        cmd: ['true'],
        readOnlyRootFS: true,
      } as never),
    );
    expect(isDockerError(out.error, 'DOCKER_SPEC_INVALID')).toBe(true);
    expect((out.error as Error).message).toContain('readOnlyRootFS');
  });

  it('reports an unreachable daemon as DAEMON_UNAVAILABLE', async () => {
    const out = await collect(
      runner({ connection: { socketPath: '/nonexistent.sock' } }).run({ image: TEST_IMAGE, cmd: ['true'] }),
    );
    expect(isDockerError(out.error, 'DOCKER_DAEMON_UNAVAILABLE')).toBe(true);
  });

  it('gives the runner identity as the image ID', async () => {
    const id = await runner().identity({ image: TEST_IMAGE });
    const inspected = await testDocker.getImage(TEST_IMAGE).inspect();
    expect(id).toBe(`docker:${inspected.Id}`);
  });
});
