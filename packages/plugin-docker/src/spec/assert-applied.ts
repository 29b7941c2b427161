import { posix } from 'node:path';
import type { ContainerCreateBody } from './create-body.js';

const clean = (p: string | undefined): string | undefined =>
  p === undefined ? p : posix.normalize(p).replace(/(.)\/$/, '$1');

/** The parts of `GET /containers/{id}/json` the assertion reads. */
export interface InspectedSettings {
  HostConfig?: {
    NetworkMode?: string;
    ReadonlyRootfs?: boolean;
    Memory?: number;
    NanoCpus?: number;
    PidsLimit?: number | null;
    DeviceRequests?: { DeviceIDs?: string[] | null; Count?: number }[] | null;
  };
  Mounts?: { Type?: string; Source?: string; Destination?: string; RW?: boolean }[];
}

/**
 * Compares the created container with what was asked for and lists every difference. The Engine API
 * ignores unknown keys and matches keys case-insensitively (pitfall 9), so only the created container
 * proves that network, read-only root, mounts, GPUs, memory, CPUs and PIDs took effect.
 */
export function settingsMismatches(body: ContainerCreateBody, inspected: InspectedSettings): string[] {
  const want = body.HostConfig;
  const got = inspected.HostConfig ?? {};
  const out: string[] = [];
  const check = (what: string, expected: unknown, actual: unknown): void => {
    if (expected !== actual)
      out.push(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  };
  if (want.NetworkMode !== undefined) check('NetworkMode', want.NetworkMode, got.NetworkMode);
  check('ReadonlyRootfs', want.ReadonlyRootfs, got.ReadonlyRootfs ?? false);
  check('Memory', want.Memory ?? 0, got.Memory ?? 0);
  check('NanoCpus', want.NanoCpus ?? 0, got.NanoCpus ?? 0);
  check('PidsLimit', want.PidsLimit, got.PidsLimit ?? 0);
  const wantIds = (want.DeviceRequests ?? [])
    .map((r) => (r.DeviceIDs ?? [`count=${r.Count ?? 0}`]).join(','))
    .join(';');
  const gotIds = (got.DeviceRequests ?? [])
    .map((r) => (r.DeviceIDs && r.DeviceIDs.length > 0 ? r.DeviceIDs : [`count=${r.Count ?? 0}`]).join(','))
    .join(';');
  check('DeviceRequests', wantIds, gotIds);
  for (const m of want.Mounts) {
    const found = inspected.Mounts?.find((x) => clean(x.Destination) === clean(m.Target));
    if (found === undefined) out.push(`mount ${m.Target}: missing`);
    else {
      check(`mount ${m.Target} RW`, !m.ReadOnly, found.RW);
      check(`mount ${m.Target} source`, clean(m.Source), clean(found.Source));
    }
  }
  return out;
}
