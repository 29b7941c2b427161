import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireService } from '@beamline/core/testing';
import Docker from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { createFakeIO, type FakeIO } from '../testing/fake-io.js';
import { runCli } from '../testing/run-cli.js';
import { containerCommand } from './container-command.js';

const IMAGE = process.env.BEAMLINE_TEST_IMAGE ?? 'beamline-test/busybox:1.36';
const PROJECT = 'bl-cli-test';
const docker = new Docker();
const ok = await new Docker({ timeout: 3000 })
  .getImage(IMAGE)
  .inspect()
  .then(
    () => true,
    () => false,
  );
const available = requireService(
  'docker',
  ok,
  'Run packages/plugin-docker/scripts/setup-test-env.sh as root.',
);
/** `beamline container …` with only the container commands (no store is opened). */
const container = async (argv: string[], io: FakeIO = createFakeIO()): Promise<number> =>
  (await runCli(['container', ...argv], { io, commands: [containerCommand] })).code;
const ours = (): Promise<Docker.ContainerInfo[]> =>
  docker.listContainers({ all: true, filters: { label: [`io.beamline.project=${PROJECT}`] } });

describe.skipIf(!available)('beamline container against a real engine', () => {
  afterAll(async () => {
    for (const c of await ours()) await docker.getContainer(c.Id).remove({ force: true });
  });

  it('streams stdout and stderr apart, passes env files, and returns 0', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bl-cli-'));
    await writeFile(join(dir, 'vars.env'), '# comment\nGREETING=hello world\n');
    const io = createFakeIO({ cwd: dir });
    const code = await container(
      [
        'run',
        IMAGE,
        '--project',
        PROJECT,
        '--env-file',
        'vars.env',
        '--',
        'sh',
        '-c',
        'echo "$GREETING"; echo err >&2',
      ],
      io,
    );
    expect(code).toBe(0);
    expect(io.stdout.text).toBe('hello world\n');
    expect(io.stderr.text).toBe('err\n');
    await rm(dir, { recursive: true, force: true });
  });

  it('returns 1 with the exit code for a failing job, and nothing is left', async () => {
    const io = createFakeIO();
    expect(await container(['run', IMAGE, '--project', PROJECT, '--', 'sh', '-c', 'exit 4'], io)).toBe(1);
    expect(io.stderr.text).toContain('exit code 4 (DOCKER_EXIT_NONZERO)');
    expect(await ours()).toEqual([]);
  });

  it('stops and removes the container on Ctrl-C (io.signal)', async () => {
    const io = createFakeIO();
    const running = container(
      ['run', IMAGE, '--project', PROJECT, '--', 'sh', '-c', 'echo up; sleep 100'],
      io,
    );
    while (!io.stdout.text.includes('up')) await new Promise((r) => setTimeout(r, 50));
    io.controller.abort();
    expect(await running).toBe(1);
    expect(io.stderr.text).toContain('DOCKER_CANCELLED');
    expect(await ours()).toEqual([]);
  });

  it('reports a timeout as DOCKER_TIMED_OUT', async () => {
    const io = createFakeIO();
    expect(
      await container(['run', IMAGE, '--project', PROJECT, '--timeout', '1s', '--', 'sleep', '100'], io),
    ).toBe(1);
    expect(io.stderr.text).toContain('DOCKER_TIMED_OUT');
  });

  it('runs the janitor and pull --policy missing offline', async () => {
    const io = createFakeIO();
    expect(await container(['janitor', '--project', PROJECT], io)).toBe(0);
    expect(io.stdout.text).toMatch(/removed \d+, kept \d+/);
    const pull = createFakeIO();
    expect(await container(['pull', IMAGE], pull)).toBe(0);
    expect(pull.stdout.text).toContain('(already present)');
    const offline = createFakeIO();
    expect(await container(['pull', 'localhost:1/x/y:1.0', '--retries', '0'], offline)).toBe(1);
    expect(offline.stderr.text).toContain('DOCKER_REGISTRY_UNREACHABLE');
  });
});
