import { createHash } from 'node:crypto';
import type { ResourceRequest } from '@beamline/core';
import { PostgresError } from '../errors/postgres-error.js';

/** What a worker must offer to take a job: the runner, capability labels and resource counts. */
export interface Requirement {
  runner: string;
  /** Sorted, without repeats: `gpu=a100`, `docker`. */
  labels: string[];
  cpus: number;
  memoryMb: number;
  gpus: number;
  gpuOptional: boolean;
}

/** What a job needs, from the runner a step named and the step's request. */
export function requirementOf(runner: string, request: ResourceRequest | undefined): Requirement {
  return {
    runner,
    labels: [...new Set(request?.labels ?? [])].sort(),
    cpus: request?.cpus ?? 1,
    memoryMb: request?.memoryMb ?? 0,
    gpus: request?.gpus ?? 0,
    gpuOptional: request?.gpuOptional ?? false,
  };
}

/** The pg-boss queue of a requirement: equal requirements share one. */
export function queueName(requirement: Requirement): string {
  const canonical = JSON.stringify([
    requirement.runner,
    requirement.labels,
    requirement.cpus,
    requirement.memoryMb,
    requirement.gpus,
    requirement.gpuOptional,
  ]);
  return `beamline-steps-${createHash('sha256').update(canonical).digest('hex').slice(0, 20)}`;
}

/** A worker's capability labels: name → value (`undefined` for a bare name). */
export type LabelSet = ReadonlyMap<string, string | undefined>;

const LABEL = /^([A-Za-z0-9_.-]+)(?:=([^\s,=]+))?$/;

/**
 * Parses labels as `--labels gpu=a100,mem=64g,docker` gives them (a list, or one comma-separated text).
 * @throws PostgresError `POSTGRES_CONFIG_INVALID` naming the bad label
 */
export function parseLabels(input: string | readonly string[]): LabelSet {
  const items = typeof input === 'string' ? input.split(',') : input.flatMap((item) => item.split(','));
  const labels = new Map<string, string | undefined>();
  for (const raw of items) {
    const item = raw.trim();
    if (item === '') continue;
    const match = LABEL.exec(item);
    if (match === null) {
      throw new PostgresError(
        'POSTGRES_CONFIG_INVALID',
        `labels: expected name or name=value (letters, digits, _ . -), got ${JSON.stringify(item)}`,
      );
    }
    labels.set(match[1]!, match[2]);
  }
  return labels;
}

/**
 * Whether a worker with `offered` labels may take a job that requires `required`: a `name=value` label
 * needs the same value, a bare `name` needs the name with any value.
 */
export function labelsSatisfy(offered: LabelSet, required: readonly string[]): boolean {
  for (const label of required) {
    const match = LABEL.exec(label);
    if (match === null) return false;
    const [, name, value] = match;
    if (!offered.has(name!)) return false;
    if (value !== undefined && offered.get(name!) !== value) return false;
  }
  return true;
}
