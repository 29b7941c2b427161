import { open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import type { Checksums } from '../checksums/checksum-format.js';

/** One byte range of a `.part` file and how much of it has arrived. */
export interface PartSegment {
  start: number;
  /** Exclusive end; undefined while the size is unknown (single stream only). */
  end: number | undefined;
  /** Bytes of this segment written (from `start`). */
  done: number;
}

/** The small JSON file beside a `.part` that makes a resume safe. */
export interface PartState {
  version: 1;
  /** The replica the bytes came from (query values redacted; only compared, never requested). */
  url: string;
  size: number | undefined;
  etag: string | undefined;
  lastModified: string | undefined;
  /** Expected checksums at the time: resuming from another replica is only safe when these exist. */
  expected: Checksums;
  segments: PartSegment[];
}

const stateSchema = z.object({
  version: z.literal(1),
  url: z.string(),
  size: z.number().int().nonnegative().optional(),
  etag: z.string().optional(),
  lastModified: z.string().optional(),
  expected: z.record(z.string(), z.string()),
  segments: z.array(z.object({ start: z.number().int().nonnegative(), end: z.number().int().nonnegative().optional(), done: z.number().int().nonnegative() })),
});

/** Where the partial data and its state live for a destination. */
export function partPaths(dest: string): { part: string; state: string } {
  return { part: `${dest}.part`, state: `${dest}.part.json` };
}

/** Reads a state file; undefined when absent or unreadable (a torn or foreign file means start over). */
export async function readPartState(path: string): Promise<PartState | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = stateSchema.safeParse(JSON.parse(text));
    if (!parsed.success) return undefined;
    const d = parsed.data;
    return {
      version: 1,
      url: d.url,
      size: d.size,
      etag: d.etag,
      lastModified: d.lastModified,
      expected: d.expected,
      segments: d.segments.map((s) => ({ start: s.start, end: s.end, done: s.done })),
    };
  } catch {
    return undefined;
  }
}

/** Writes a state file atomically (temp + rename), so a crash leaves the old or the new one, never half. */
export async function writePartState(path: string, state: PartState): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, JSON.stringify(state));
  await rename(tmp, path);
}

/** Removes a `.part` and its state. */
export async function removePart(dest: string): Promise<void> {
  const p = partPaths(dest);
  await Promise.all([rm(p.part, { force: true }), rm(p.state, { force: true }), rm(`${p.state}.tmp`, { force: true })]);
}

/**
 * Makes a verified `.part` visible: rename onto the final name (atomic within a directory, replacing an
 * older file in one step), then fsync the directory so the rename itself survives a crash, then drop
 * the state file. The data was fsynced before verification.
 */
export async function finalizePart(dest: string): Promise<void> {
  const p = partPaths(dest);
  await rename(p.part, dest);
  await fsyncDir(dirname(dest));
  await rm(p.state, { force: true });
}

/** fsync of a directory (its entries); ignored where the platform refuses it. */
export async function fsyncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Some file systems (and Windows) do not support fsync on directories; the rename still happened.
  }
}
