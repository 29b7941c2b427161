import { describe, expect, it } from 'vitest';
import { gpuCount, isGone, numberField, parseJob, parsePartition, parseNode } from './records.js';

describe('job records of every API version', () => {
  it('reads v0.0.38: a state string and a wait status', () => {
    const base = {
      job_id: 7,
      name: 'n',
      user_name: 'alice',
      comment: 'c',
      partition: 'main',
      batch_host: 'vm',
    };
    expect(
      parseJob({ ...base, job_state: 'COMPLETED', exit_code: 768, state_reason: 'NonZeroExitCode' }),
    ).toMatchObject({
      state: 'COMPLETED',
      exit: { code: 3, signal: null },
      reason: 'NonZeroExitCode',
    });
    expect(parseJob({ ...base, job_state: 'FAILED', exit_code: 9 })?.exit).toEqual({
      code: null,
      signal: 'SIGKILL',
    });
    expect(parseJob({ ...base, job_state: 'FAILED', exit_code: 15 })?.exit).toEqual({
      code: null,
      signal: 'SIGTERM',
    });
    // While it runs there is no exit, whatever the field says.
    expect(parseJob({ ...base, job_state: 'RUNNING', exit_code: 0 })?.exit).toBeUndefined();
    // 22.05 shows only the flag while a job completes: not gone yet.
    const completing = parseJob({ ...base, job_state: 'COMPLETING', exit_code: 0 });
    expect(completing).toMatchObject({ state: '', flags: ['COMPLETING'] });
    expect(isGone(completing!)).toBe(false);
    expect(parseJob({ ...base, job_state: 'PENDING', state_reason: 'None' })?.reason).toBe('');
  });

  it('reads v0.0.39: the wait status as a number object', () => {
    const job = parseJob({
      job_id: { set: true, infinite: false, number: 8 },
      job_state: 'FAILED',
      exit_code: { set: true, infinite: false, number: 256 },
    });
    expect(job).toMatchObject({ jobId: 8, state: 'FAILED', exit: { code: 1, signal: null } });
  });

  it('reads v0.0.40 and later: state flags and a verbose exit code', () => {
    const signalled = parseJob({
      job_id: 9,
      job_state: ['CANCELLED', 'COMPLETING'],
      exit_code: {
        status: ['SIGNALED'],
        return_code: { set: false, infinite: false, number: 0 },
        signal: { id: { set: true, infinite: false, number: 9 }, name: 'KILL' },
      },
    });
    expect(signalled).toMatchObject({
      state: 'CANCELLED',
      flags: ['COMPLETING'],
      exit: { code: null, signal: 'SIGKILL' },
    });
    expect(isGone(signalled!)).toBe(false);
    const exited = parseJob({
      job_id: 10,
      job_state: ['FAILED'],
      exit_code: {
        status: ['ERROR'],
        return_code: { set: true, infinite: false, number: 42 },
        signal: { id: { set: false, infinite: false, number: 0 }, name: '' },
      },
    });
    expect(exited).toMatchObject({ state: 'FAILED', exit: { code: 42, signal: null } });
    expect(isGone(exited!)).toBe(true);
  });

  it('treats sentinels and unset numbers as absent', () => {
    expect(numberField(-1)).toBeUndefined();
    expect(numberField(4294967294)).toBeUndefined();
    expect(numberField({ set: true, infinite: true, number: 0 })).toBeUndefined();
    expect(numberField({ set: false, infinite: false, number: 5 })).toBeUndefined();
    expect(numberField({ set: true, infinite: false, number: 5 })).toBe(5);
    expect(parseJob({ name: 'no id' })).toBeUndefined();
  });
});

describe('partitions and nodes', () => {
  it('reads v0.0.38 limits', () => {
    expect(
      parsePartition({
        name: 'small',
        flags: [],
        maximum_cpus_per_node: 2,
        maximum_memory_per_node: 1024,
        max_time_limit: 10,
        nodes: 'vm',
        state: 'UP',
      }),
    ).toEqual({
      name: 'small',
      maxCpusPerNode: 2,
      maxMemoryPerNodeMb: 1024,
      maxTimeMinutes: 10,
      nodes: 'vm',
      state: 'UP',
      isDefault: false,
    });
    expect(
      parsePartition({ name: 'main', flags: ['default'], maximum_cpus_per_node: -1, max_time_limit: -1 }),
    ).toMatchObject({
      isDefault: true,
    });
    expect(parsePartition({ name: 'main', maximum_cpus_per_node: -1 })?.maxCpusPerNode).toBeUndefined();
  });

  it('reads the data-parser limits', () => {
    expect(
      parsePartition({
        name: 'gpu',
        maximums: {
          cpus_per_node: { set: true, infinite: false, number: 64 },
          partition_memory_per_node: { set: true, infinite: false, number: 512000 },
          time: { set: true, infinite: false, number: 2880 },
        },
        nodes: { configured: 'g[01-04]' },
        partition: { state: ['UP'] },
      }),
    ).toEqual({
      name: 'gpu',
      maxCpusPerNode: 64,
      maxMemoryPerNodeMb: 512000,
      maxTimeMinutes: 2880,
      nodes: 'g[01-04]',
      state: 'UP',
      isDefault: false,
    });
  });

  it('counts GPUs in gres strings', () => {
    expect(gpuCount('gpu:2')).toBe(2);
    expect(gpuCount('gpu:a100:4(S:0-1),gpu:v100:2(S:0)')).toBe(6);
    expect(gpuCount('')).toBe(0);
    expect(gpuCount('fpga:1')).toBe(0);
    expect(
      parseNode({ name: 'vm', cpus: 16, real_memory: 22057, gres: 'gpu:2', partitions: ['main', 'small'] }),
    ).toEqual({
      name: 'vm',
      cpus: 16,
      realMemoryMb: 22057,
      gpus: 2,
      partitions: ['main', 'small'],
    });
  });
});
