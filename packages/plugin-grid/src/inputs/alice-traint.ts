import { z } from 'zod';
import { GridError } from '../errors/grid-error.js';
import { safeRelativePath, type GridFile, type GridReplica } from '../model/grid-file.js';
import type { Checksums } from '../checksums/checksum-format.js';

/** One entry of an AliceTraINT task's `AODFiles` (field names are the Go server's PascalCase). */
export const aliceAodFileSchema = z.object({
  Name: z.string(),
  Path: z.string().min(1),
  Size: z.number().int().nonnegative(),
  LHCPeriod: z.string().optional(),
  RunNumber: z.number().optional(),
  AODNumber: z.number().optional(),
});
/** One AOD file of an AliceTraINT list: its name, grid path, size and, when given, period, run and AOD number. */
export type AliceAodFile = z.infer<typeof aliceAodFileSchema>;

/** What a replica resolver returns for one logical file name. */
export interface ResolvedReplicas {
  replicas: GridReplica[];
  /** Checksums the catalogue knows (JAliEn gives md5). */
  checksums?: Checksums;
  size?: number;
}

/**
 * Turns a logical name (an ALICE LFN, a Rucio DID) into replica URLs: JAliEn `access read`, Rucio
 * `list_replicas`, or a static mapping in tests. Kept apart from transport so a catalogue can be added
 * without touching the drivers.
 */
export type ReplicaResolver = (lfn: string, signal?: AbortSignal) => Promise<ResolvedReplicas>;

/**
 * Reads an AliceTraINT queued task (`{ID, AODFiles, Configuration}`) or a bare `AODFiles` array into
 * files with no replicas yet: each keeps its LFN and catalogue size, and lands under
 * `<LHCPeriod>/<RunNumber>/<AODNumber>/AO2D.root` (or the LFN's last segments) so files of the same
 * name do not collide. Replicas come from the resolver at download time.
 */
export function fromAliceTraint(task: unknown): GridFile[] {
  const list = Array.isArray(task) ? task : (task as { AODFiles?: unknown } | null)?.AODFiles;
  const parsed = z.array(aliceAodFileSchema).safeParse(list);
  if (!parsed.success) {
    throw new GridError(
      'GRID_INPUT_INVALID',
      `AliceTraINT task: AODFiles is not a list of {Name, Path, Size}: ${parsed.error.issues[0]?.message ?? ''}`,
    );
  }
  return parsed.data.map((f) => {
    const name = f.Name || f.Path.split('/').pop() || 'AO2D.root';
    const dest =
      f.LHCPeriod && f.RunNumber !== undefined && f.AODNumber !== undefined
        ? `${f.LHCPeriod}/${f.RunNumber}/${f.AODNumber}/${name}`
        : f.Path.split('/').filter(Boolean).slice(-3).join('/');
    return { name: f.Path, replicas: [], size: f.Size, checksums: {}, dest: safeRelativePath(dest, f.Path) };
  });
}

/** Fills in replicas (and catalogue checksums/size) for files that have none, through the resolver. */
export async function resolveFiles(
  files: readonly GridFile[],
  resolver: ReplicaResolver | undefined,
  signal?: AbortSignal,
): Promise<GridFile[]> {
  return Promise.all(
    files.map(async (f) => {
      if (f.replicas.length > 0) return f;
      if (resolver === undefined) {
        throw new GridError(
          'GRID_INPUT_INVALID',
          `${f.name}: no replica URL and no replica resolver configured (options.resolveReplicas)`,
        );
      }
      const r = await resolver(f.name, signal);
      if (r.replicas.length === 0)
        throw new GridError('GRID_NOT_FOUND', `${f.name}: the resolver found no replica`);
      const size = f.size ?? r.size;
      return {
        ...f,
        replicas: r.replicas,
        checksums: { ...r.checksums, ...f.checksums },
        ...(size !== undefined && { size }),
      };
    }),
  );
}
