import { readdirSync } from 'node:fs';
import os from 'node:os';
import type { ResourceCapacity } from '../contracts/resources.js';

/**
 * GPU ids this process may use: `CUDA_VISIBLE_DEVICES` when set (an empty value or `-1` means none),
 * otherwise the NVIDIA device nodes present (`/dev/nvidia0` → `0`).
 */
export function detectGpuIds(env: NodeJS.ProcessEnv = process.env, devDir = '/dev'): string[] {
  const visible = env.CUDA_VISIBLE_DEVICES;
  if (visible !== undefined) {
    const ids = visible
      .split(',')
      .map((id) => id.trim())
      .filter((id) => id !== '');
    return ids.some((id) => id === '-1' || id.toLowerCase() === 'nodevfiles') ? [] : ids;
  }
  try {
    return readdirSync(devDir)
      .map((name) => /^nvidia(\d+)$/.exec(name)?.[1])
      .filter((id): id is string => id !== undefined)
      .sort((a, b) => Number(a) - Number(b));
  } catch {
    return [];
  }
}

/** The pool capacity of this host, with any configured values taking precedence. */
export function defaultCapacity(configured: Partial<ResourceCapacity> = {}): ResourceCapacity {
  return {
    cpus: configured.cpus ?? os.availableParallelism(),
    memoryMb: configured.memoryMb ?? Math.floor(os.totalmem() / (1024 * 1024)),
    gpus: configured.gpus ?? detectGpuIds(),
  };
}
