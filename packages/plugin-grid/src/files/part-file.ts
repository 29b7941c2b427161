import { hostBootId } from '@beamline/core';
import type { FileHandle } from 'node:fs/promises';
import { z } from 'zod';
import type { Checksums } from '../checksums/checksum-format.js';
import type { FileHasher } from '../checksums/hash-worker.js';
import { GridError } from '../errors/grid-error.js';
import { printable } from '../errors/printable.js';
import type { SafeDir } from './safe-dir.js';

/** One byte range of a `.part` file and how much of it has arrived. */
export interface PartSegment {
  start: number;
  /** Exclusive end; undefined while the size is unknown (single stream only). */
  end: number | undefined;
  /** Bytes of this segment written (from `start`); survive a process crash (page cache), not a power loss. */
  done: number;
  /** Bytes of this segment written and fdatasync'ed: what survives a power loss too. */
  durable: number;
}

/** The small JSON file beside a `.part` that makes a resume safe. */
export interface PartState {
  version: 2;
  /** The replica the bytes came from (query values redacted; only compared, never requested). */
  url: string;
  size: number | undefined;
  /**
   * What identifies the replica's file version the bytes belong to: its strong ETag, else its
   * Last-Modified. Compared with every later response; without it (and without expected checksums) a
   * `.part` is never resumed.
   */
  validator: string | undefined;
  /** Expected checksums at the time: resuming from another replica is only safe when these exist. */
  expected: Checksums;
  /** The kernel boot the `done` counts belong to: after a reboot only `durable` bytes are trusted. */
  bootId: string | undefined;
  segments: PartSegment[];
}

const count = z.number().int().nonnegative();
const stateSchema = z.object({
  version: z.literal(2),
  url: z.string(),
  size: count.optional(),
  validator: z.string().optional(),
  expected: z.record(z.string(), z.string()),
  bootId: z.string().optional(),
  segments: z.array(z.object({ start: count, end: count.optional(), done: count, durable: count })).min(1),
});

/**
 * Bytes of a segment that are certainly in the file: all written bytes when the state was written
 * during this boot (a killed process leaves its writes in the page cache), else only the fsynced ones.
 */
export function trustedBytes(state: PartState, segment: PartSegment): number {
  return sameBoot(state) ? segment.done : Math.min(segment.done, segment.durable);
}

/**
 * Bytes of a `.part` of `partSize` bytes that a resume keeps. A single stream writes in order, so after
 * a process crash the file's length is the truth (its `done` is only saved at checkpoints); after a
 * reboot only what was fsynced is.
 */
export function resumableBytes(state: PartState, partSize: number): number {
  if (state.segments.length > 1) return state.segments.reduce((n, s) => n + trustedBytes(state, s), 0);
  return sameBoot(state) ? partSize : Math.min(partSize, state.segments[0]!.durable);
}

function sameBoot(state: PartState): boolean {
  return state.bootId !== undefined && state.bootId === hostBootId();
}

/** The names a destination `name` uses while it downloads (reserved: no list entry may take them). */
export function partNames(name: string): { part: string; state: string; stateTmp: string; cacheTmp: string } {
  return {
    part: `${name}.part`,
    state: `${name}.part.json`,
    stateTmp: `${name}.part.json.tmp`,
    cacheTmp: `${name}.cache-tmp`,
  };
}

/**
 * The `.part` of one destination file and its state, reached only through the checked directory that
 * holds them (see `SafeDir`): nothing at these names, a link or a FIFO included, can redirect a
 * write. Kept for the whole download of one file, across attempts and replicas.
 */
export class PartFile {
  private readonly names: ReturnType<typeof partNames>;
  /**
   * The running hash of the `.part`'s first bytes, kept across attempts so a retry need not re-read
   * them; dropped whenever the `.part` is truncated or removed.
   */
  hasher: FileHasher | undefined;

  constructor(
    private readonly dir: SafeDir,
    /** The destination's file name in `dir`. */
    readonly name: string,
  ) {
    this.names = partNames(name);
  }

  /** The `.part`'s ordinary path (messages, hashing reads, external tools). */
  get path(): string {
    return this.dir.display(this.names.part);
  }

  /** The final destination's path. */
  get finalPath(): string {
    return this.dir.display(this.name);
  }

  /** The saved state; undefined when absent, torn, of another version, or not a regular file. */
  async readState(): Promise<PartState | undefined> {
    const text = await this.dir.readText(this.names.state);
    if (text === undefined) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return undefined;
    }
    const parsed = stateSchema.safeParse(json);
    if (!parsed.success) return undefined;
    const d = parsed.data;
    return {
      version: 2,
      url: d.url,
      size: d.size,
      validator: d.validator,
      expected: d.expected,
      bootId: d.bootId,
      segments: d.segments.map((s) => ({ start: s.start, end: s.end, done: s.done, durable: s.durable })),
    };
  }

  /** Saves the state atomically (fresh temporary file, rename): a crash leaves the old or the new one. */
  async writeState(state: PartState): Promise<void> {
    await this.dir.writeAtomic(
      this.names.state,
      JSON.stringify({ ...state, bootId: hostBootId() }),
      this.names.stateTmp,
    );
  }

  /** Size of the `.part` when it is a regular file; undefined when absent or not a regular file. */
  async size(): Promise<number | undefined> {
    const e = await this.dir.entry(this.names.part);
    return e.kind === 'file' ? e.size : undefined;
  }

  /**
   * Opens the `.part` for writing, creating it (`truncate`: empty). A link or non-file at the name is
   * removed and a new file created in its place, never followed.
   */
  async open(truncate: boolean): Promise<FileHandle> {
    const e = await this.dir.entry(this.names.part);
    if (e.kind !== 'file' && e.kind !== 'missing') await this.dir.remove(this.names.part);
    return this.dir.open(this.names.part, truncate ? 'truncate' : 'create');
  }

  /** Removes the `.part` and its state (and a leftover temporary state file). */
  async remove(): Promise<void> {
    this.hasher = undefined;
    await Promise.all([
      this.dir.remove(this.names.part),
      this.dir.remove(this.names.state),
      this.dir.remove(this.names.stateTmp),
    ]);
  }

  /**
   * Makes the verified `.part` visible: rename onto the final name (atomic, replacing an older file or a
   * link there in one step), fsync the directory so the rename survives a crash, then drop the state.
   * The data was fsynced before verification.
   */
  async finalize(): Promise<void> {
    try {
      await this.dir.rename(this.names.part, this.name);
    } catch (e) {
      // The bytes were written to a file someone removed meanwhile: they exist nowhere now.
      if ((e as { code?: unknown }).code !== 'ENOENT') throw e;
      throw new GridError(
        'GRID_IO_FAILED',
        `${printable(this.path)} was removed during the download (by another program?)`,
        { cause: e },
      );
    }
    await this.dir.sync();
    await Promise.all([this.dir.remove(this.names.state), this.dir.remove(this.names.stateTmp)]);
    this.hasher = undefined;
  }
}
