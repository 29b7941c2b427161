import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFakeIO } from '../testing/fake-io.js';
import { runCli } from '../testing/run-cli.js';
import { parseGpus, parseMemoryFlag, parseTimeout } from './container-args.js';
import { containerCommand } from './container-command.js';

const container = (argv: string[], cwd = '/work'): ReturnType<typeof runCli> =>
  runCli(['container', ...argv], { io: createFakeIO({ cwd }), commands: [containerCommand] });

describe('beamline container (no engine needed)', () => {
  it('prints the docker run line and API body with --dry-run', async () => {
    const { code, stdout } = await container([
      'run',
      'ghcr.io/lab/recon:1.2.0',
      '--profile',
      'tre',
      '--data',
      'data',
      '--outputs',
      '/o',
      '--gpus',
      '0,1',
      '-m',
      '8',
      '--cpus',
      '2',
      '--timeout',
      '2h',
      '--dry-run',
      '--',
      'python3',
      'train.py',
      '--epochs',
      '3',
    ]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^docker run --rm --name beamline-job-[0-9a-f]{12} /);
    expect(stdout).toContain('--network none --read-only');
    expect(stdout).toContain('--mount type=bind,source=/work/data,target=/safe_data,readonly');
    expect(stdout).toContain('--mount type=bind,source=/o,target=/safe_outputs');
    expect(stdout).toContain(`--memory 8192m`);
    expect(stdout).toContain(`--gpus '"device=0,1"' ghcr.io/lab/recon:1.2.0 python3 train.py --epochs 3`);
    expect(stdout).toContain('"DeviceIDs": [');
  });

  it('passes --env over --env-file values', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bl-cli-env-'));
    try {
      await writeFile(join(dir, 'vars.env'), '# comment\nA=from-file\nC=kept\n');
      const argv = [
        'run',
        'a/b:1',
        '--env-file',
        'vars.env',
        '-e',
        'A=1',
        '--env',
        'B=x=y',
        '--dry-run',
        '--',
        'true',
      ];
      const { code, stdout } = await container(argv, dir);
      expect(code).toBe(0);
      expect(stdout).toMatch(/--env A=1 .*--env B=x=y .*--env C=kept|--env A=1 .*--env C=kept .*--env B=x=y/);
      expect(stdout).not.toContain('from-file');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [['run'], "missing required argument 'image'"],
    [['run', 'busybox', '--', 'true'], /no tag or digest/],
    [['run', 'a/b:latest', '--dry-run', '--', 'x'], /latest/],
    [['run', 'a/b:1', '--gpus', '2x?', '--', 'x'], "option '--gpus <ids>' argument '2x?' is invalid"],
    [['run', 'a/b:1', '--memory', '2k', '--', 'x'], 'Docker needs at least 6m'],
    [['run', 'a/b:1', '--timeout', '90', '--', 'x'], 'expected a duration with a unit'],
    [['run', 'a/b:1', '--env', 'novalue', '--', 'x'], 'expected KEY=VALUE'],
    [['run', 'a/b:1', '--bogus'], "unknown option '--bogus'"],
    [['run', 'a/b:1', 'python', '-u', 'x.py'], "unknown option '-u'"],
    [['run', 'a/b:1', '--profile', 'tre', '--dry-run'], /needs a data folder/],
    [
      ['run', 'a/b:1', '--env-file', 'missing.env', '--dry-run'],
      '--env-file /work/missing.env cannot be read',
    ],
    [['frobnicate'], "unknown command 'frobnicate'"],
    [['build', '.'], "required option '--repository <repo>' not specified"],
    [['build', '.', '--repository', 'r'], "required option '--version <version>' not specified"],
    [['pull', 'a/b:1', '--policy', 'sometimes'], 'Allowed choices are never, missing, always'],
    [['pull', 'a/b:1', '--retries', '-1'], "argument '-1' is invalid"],
    [['janitor', 'extra'], 'too many arguments'],
  ])('refuses bad input %j with exit 2 and says why', async (argv, message) => {
    const { code, stdout, stderr } = await container(argv);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    if (typeof message === 'string') expect(stderr).toContain(message);
    else expect(stderr).toMatch(message);
    expect(stderr.startsWith('beamline container')).toBe(true);
  });

  it("reads -m like ces-run (a bare number is GB) and other sizes like core's parseMemory", () => {
    expect(parseMemoryFlag('4')).toBe(4096);
    expect(parseMemoryFlag('1.5')).toBe(1536);
    expect(parseMemoryFlag('512m')).toBe(512);
    expect(parseMemoryFlag('8g')).toBe(8192);
    expect(parseMemoryFlag('4GiB')).toBe(4096);
    expect(() => parseMemoryFlag('lots')).toThrow(/bare number .*ces-run/);
  });

  it("reads --timeout with core's parseDuration and refuses a bare number", () => {
    expect(parseTimeout('90s')).toBe(90_000);
    expect(parseTimeout('30m')).toBe(1_800_000);
    expect(parseTimeout('1h30m')).toBe(5_400_000);
    expect(() => parseTimeout('90')).toThrow(/with a unit/);
    expect(() => parseTimeout('0s')).toThrow(/with a unit/);
  });

  it('reads GPU ids, never a count', () => {
    expect(parseGpus('all')).toBe('all');
    expect(parseGpus('0, 2')).toEqual(['0', '2']);
    expect(() => parseGpus('')).toThrow();
  });
});
