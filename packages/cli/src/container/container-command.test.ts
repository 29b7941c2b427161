import { describe, expect, it } from 'vitest';
import { createFakeIO } from '../testing/fake-io.js';
import { parseDuration, parseGpus, parseMemory } from './container-args.js';
import { containerCommand } from './container-command.js';

describe('beamline container (no engine needed)', () => {
  it('prints the docker run line and API body with --dry-run', async () => {
    const io = createFakeIO({ cwd: '/work' });
    const code = await containerCommand.run(
      ['run', 'ghcr.io/lab/recon:1.2.0', '--profile', 'tre', '--data', 'data', '--outputs', '/o', '--gpus', '0,1', '-m', '8', '--cpus', '2', '--timeout', '2h', '--dry-run', '--', 'python3', 'train.py'],
      io,
    );
    expect(code).toBe(0);
    expect(io.stdout.text).toMatch(/^docker run --rm --name beamline-job-[0-9a-f]{12} /);
    expect(io.stdout.text).toContain('--network none --read-only');
    expect(io.stdout.text).toContain('--mount type=bind,source=/work/data,target=/safe_data,readonly');
    expect(io.stdout.text).toContain('--mount type=bind,source=/o,target=/safe_outputs');
    expect(io.stdout.text).toContain(`--memory 8192m`);
    expect(io.stdout.text).toContain(`--gpus '"device=0,1"' ghcr.io/lab/recon:1.2.0 python3 train.py`);
    expect(io.stdout.text).toContain('"DeviceIDs": [');
  });

  it.each([
    [['run'], /expected exactly one IMAGE/],
    [['run', 'busybox', '--', 'true'], /no tag or digest/],
    [['run', 'a/b:latest', '--dry-run', '--', 'x'], /latest/],
    [['run', 'a/b:1', '--gpus', '2x?', '--', 'x'], /--gpus/],
    [['run', 'a/b:1', '--bogus'], /Unknown option/],
    [['run', 'a/b:1', '--profile', 'tre', '--dry-run'], /needs a data folder/],
    [['frobnicate'], /unknown subcommand/],
    [['build', '.'], /--repository and --version/],
    [['pull', 'a/b:1', '--policy', 'sometimes'], /--policy/],
  ])('refuses bad input %j with exit 2', async (args, message) => {
    const io = createFakeIO();
    expect(await containerCommand.run(args, io)).toBe(2);
    expect(io.stderr.text).toMatch(message);
  });

  it('parses sizes, durations and GPU ids like ces-run', () => {
    expect(parseMemory('4')).toBe(4096);
    expect(parseMemory('512m')).toBe(512);
    expect(parseMemory('8g')).toBe(8192);
    expect(parseDuration('90')).toBe(90_000);
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseGpus('all')).toBe('all');
    expect(parseGpus('0, 2')).toEqual(['0', '2']);
  });
});
