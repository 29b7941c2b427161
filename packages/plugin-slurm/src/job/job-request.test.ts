import { describe, expect, it } from 'vitest';
import { isSlurmError } from '../errors/slurm-error.js';
import { jobEnvironment, jobResources, refuseUnsupported } from './job-request.js';
import { checkPartitionLimits, type ClusterLayout } from './partition-limits.js';

describe('resources', () => {
  it('prefers the step request and rounds up to what Slurm takes', () => {
    expect(
      jobResources(
        {
          argv: ['x'],
          request: { cpus: 1.5, memoryMb: 100.2, gpus: 2 },
          resources: { cpus: 9, memoryMb: 9, gpus: [] },
        },
        90_000,
        10_000,
      ),
    ).toEqual({ cpusPerTask: 2, memoryMb: 101, gpus: 2, stepLimitMinutes: 2, timeLimitMinutes: 3 });
  });

  it('falls back to the grant counts, and asks for no time without a limit', () => {
    expect(
      jobResources({ argv: ['x'], resources: { cpus: 1, memoryMb: 0, gpus: ['0'] } }, undefined, 10_000),
    ).toEqual({
      cpusPerTask: 1,
      gpus: 1,
    });
  });
});

describe('environment', () => {
  const source = { PATH: '/bin', HOME: '/home/a', SLURM_JWT: 'secret', SECRET: 'x' };
  it('passes the minimal set and the step variables, never the token', () => {
    expect(jobEnvironment({ argv: ['x'], env: { A: 'a b', PATH: '/opt/bin' } }, 'minimal', source)).toEqual({
      HOME: '/home/a',
      PATH: '/opt/bin',
      A: 'a b',
    });
    expect(jobEnvironment({ argv: ['x'] }, 'all', source)).toEqual({
      PATH: '/bin',
      HOME: '/home/a',
      SECRET: 'x',
    });
    expect(jobEnvironment({ argv: ['x'] }, [], {})).toEqual({ PATH: '/usr/local/bin:/usr/bin:/bin' });
  });

  it('keeps a variable named __proto__ as a variable and refuses names Slurm cannot carry', () => {
    const env = jobEnvironment(
      { argv: ['x'], env: JSON.parse('{"__proto__":"p"}') as Record<string, string> },
      [],
      {},
    );
    expect(Object.keys(env)).toEqual(['__proto__']);
    expect(() => jobEnvironment({ argv: ['x'], env: { 'A=B': 'x' } }, [], {})).toThrow(
      /non-empty without "="/,
    );
  });

  it('refuses container fields and empty programs', () => {
    expect(() => refuseUnsupported({ argv: ['x'], image: 'busybox' })).toThrow(/cannot honour image/);
    expect(() => refuseUnsupported({ argv: [] })).toThrow(/no program/);
  });
});

describe('partition limits', () => {
  const layout: ClusterLayout = {
    partitions: [
      { name: 'main', nodes: 'vm', state: 'UP', isDefault: true },
      {
        name: 'small',
        nodes: 'vm',
        state: 'UP',
        isDefault: false,
        maxCpusPerNode: 2,
        maxMemoryPerNodeMb: 1024,
        maxTimeMinutes: 10,
      },
    ],
    nodes: [{ name: 'vm', cpus: 16, realMemoryMb: 20000, gpus: 2, partitions: ['main', 'small'] }],
  };
  const refused = (partition: string | undefined, job: Parameters<typeof checkPartitionLimits>[2]) => {
    try {
      checkPartitionLimits(layout, partition, job);
    } catch (error) {
      if (isSlurmError(error)) return { code: error.code, message: error.message };
      throw error;
    }
    return undefined;
  };

  it('names each limit a step exceeds', () => {
    expect(refused('small', { cpusPerTask: 4, memoryMb: 4096 })).toEqual({
      code: 'SLURM_RESOURCES_UNAVAILABLE',
      message:
        'partition small cannot grant this step: it asks for 4 CPUs, but it allows 2 per node (MaxCPUsPerNode); and for 4096 MiB of memory, but it allows 1024 MiB per node (MaxMemPerNode)',
    });
    expect(refused(undefined, { gpus: 3 })?.message).toMatch(/3 GPU\(s\), but its nodes have at most 2/);
    expect(refused(undefined, { cpusPerTask: 17 })?.message).toMatch(/largest node has 16/);
    expect(refused('small', { timeLimitMinutes: 21, stepLimitMinutes: 20 })?.message).toMatch(
      /time limit of 20 min, but it allows 10 min/,
    );
    expect(refused('gpu', {})).toMatchObject({
      code: 'SLURM_PARTITION_UNKNOWN',
      message: expect.stringContaining('it has main, small') as string,
    });
  });

  it('drops the margin where MaxTime would not allow it but the step fits', () => {
    expect(
      checkPartitionLimits(layout, 'small', { timeLimitMinutes: 11, stepLimitMinutes: 9 }).timeLimitMinutes,
    ).toBe(10);
    expect(
      checkPartitionLimits(layout, 'main', { timeLimitMinutes: 11, stepLimitMinutes: 9 }).timeLimitMinutes,
    ).toBe(11);
  });
});
