import { getEventListeners } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isCoreError } from '../errors/core-error.js';
import { detectGpuIds } from './default-capacity.js';
import { ResourcePool } from './resource-pool.js';

describe('ResourcePool', () => {
  it('grants specific GPU ids, lowest first, and takes them back on release', async () => {
    const pool = new ResourcePool({ cpus: 4, memoryMb: 1000, gpus: ['2', '0', '1'] });
    const a = await pool.acquire({ gpus: 2 });
    expect(a.grant.gpus).toEqual(['0', '1']);
    const b = await pool.acquire({ gpus: 1 });
    expect(b.grant.gpus).toEqual(['2']);
    a.release();
    a.release(); // twice is harmless
    expect([...pool.available().gpus].sort()).toEqual(['0', '1']);
  });

  it('makes a request wait until enough is free, and lets a smaller one that fits go first', async () => {
    const pool = new ResourcePool({ cpus: 2, memoryMb: 1000, gpus: [] });
    const held = await pool.acquire({ cpus: 1.5 });
    const order: string[] = [];
    const needsAll = pool.acquire({ cpus: 2 }).then((lease) => (order.push('all'), lease));
    const small = await pool.acquire({ cpus: 0.5, memoryMb: 10 });
    order.push('small');
    small.release();
    held.release();
    (await needsAll).release();
    expect(order).toEqual(['small', 'all']);
  });

  it('withdraws a waiting request when its signal aborts', async () => {
    const pool = new ResourcePool({ cpus: 1, memoryMb: 0, gpus: [] });
    const held = await pool.acquire({ cpus: 1 });
    const controller = new AbortController();
    const waiting = pool.acquire({ cpus: 1 }, controller.signal);
    controller.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
    held.release();
    expect(pool.available().cpus).toBe(1);
  });

  it('listens once per signal however many requests wait with it, and withdraws only the waits of that signal', async () => {
    const pool = new ResourcePool({ cpus: 1, memoryMb: 0, gpus: [] });
    const held = await pool.acquire({ cpus: 1 });
    const run = new AbortController();
    const other = new AbortController();
    const waiting = [0, 1, 2].map(() => pool.acquire({ cpus: 1 }, run.signal));
    const stays = pool.acquire({ cpus: 1 }, other.signal);
    // One listener however many wait: a run's long-lived signal must not gather one per step.
    expect(getEventListeners(run.signal, 'abort')).toHaveLength(1);
    run.abort(new Error('cancelled'));
    for (const request of waiting) await expect(request).rejects.toThrow('cancelled');
    held.release();
    const lease = await stays;
    expect(lease.grant.cpus).toBe(1);
    expect(getEventListeners(other.signal, 'abort')).toHaveLength(1);
  });

  it('serves waiting requests first-fit in arrival order, withdrawn ones out of the queue', async () => {
    const pool = new ResourcePool({ cpus: 2, memoryMb: 0, gpus: [] });
    const held = await pool.acquire({ cpus: 2 });
    const order: string[] = [];
    const withdrawn = new AbortController();
    const wait = (name: string, cpus: number, signal?: AbortSignal) =>
      pool.acquire({ cpus }, signal).then((lease) => (order.push(name), lease));
    const a = wait('a', 2);
    const gone = wait('gone', 1, withdrawn.signal).catch(() => 'withdrawn');
    const b = wait('b', 1);
    const c = wait('c', 1);
    withdrawn.abort(new Error('stop'));
    expect(await gone).toBe('withdrawn');
    held.release();
    (await a).release();
    await Promise.all([b, c]);
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('refuses what it could never grant, and lets gpuOptional run on CPU where no GPU exists', () => {
    const cpuOnly = new ResourcePool({ cpus: 2, memoryMb: 512, gpus: [] });
    expect(cpuOnly.effective({ gpus: 1, gpuOptional: true })).toEqual({ cpus: 1, memoryMb: 0, gpus: 0 });
    const refuse = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return error;
      }
      return undefined;
    };
    const gpu = refuse(() => cpuOnly.effective({ gpus: 1 }, 'train'));
    expect(isCoreError(gpu, 'CORE_RESOURCES_UNSATISFIABLE')).toBe(true);
    expect((gpu as Error).message).toMatch(
      /Step "train" asks for 1 GPUs \(the pool has 0; set `gpuOptional: true`/,
    );
    expect((refuse(() => cpuOnly.effective({ memoryMb: 4096 })) as Error).message).toContain('4096 MiB');
    // gpuOptional does not hide a real shortage on a GPU host.
    const gpuHost = new ResourcePool({ cpus: 2, memoryMb: 512, gpus: ['0'] });
    expect(isCoreError(refuse(() => gpuHost.effective({ gpus: 2, gpuOptional: true })))).toBe(true);
  });
});

describe('detectGpuIds', () => {
  it('reads CUDA_VISIBLE_DEVICES, where empty or -1 means none', () => {
    expect(detectGpuIds({ CUDA_VISIBLE_DEVICES: '1, 3' })).toEqual(['1', '3']);
    expect(detectGpuIds({ CUDA_VISIBLE_DEVICES: '' })).toEqual([]);
    expect(detectGpuIds({ CUDA_VISIBLE_DEVICES: '-1' })).toEqual([]);
  });

  it('falls back to the NVIDIA device nodes', () => {
    const dev = mkdtempSync(path.join(os.tmpdir(), 'dev-'));
    for (const name of ['nvidia1', 'nvidia0', 'nvidiactl', 'nvidia-uvm'])
      writeFileSync(path.join(dev, name), '');
    expect(detectGpuIds({}, dev)).toEqual(['0', '1']);
    expect(detectGpuIds({}, path.join(dev, 'missing'))).toEqual([]);
  });
});
