import { isAbsolute, normalize, sep } from 'node:path';
import { z } from 'zod';
import { normalizeChecksums, type Checksums } from '../checksums/checksum-format.js';
import { GridError } from '../errors/grid-error.js';
import { printable } from '../errors/printable.js';

/** One replica of a file: a URL and, when the catalogue says so, its storage element. */
export interface GridReplica {
  /** `https://`, `http://`, `davs://`, `dav://`, `root://` or `xroot://`. */
  readonly url: string;
  /** Storage element name; the per-host limit keys on it when present (else on host:port). */
  readonly se?: string;
  /** Lower is tried first (Metalink priority); replicas keep list order otherwise. */
  readonly priority?: number;
}

/** A file to download, resolved: where it can be read from and what it must be. */
export interface GridFile {
  /** Logical name (LFN, Metalink name); used in events and for the default destination. */
  readonly name: string;
  /** Replicas in the order they should be tried. */
  readonly replicas: readonly GridReplica[];
  /** Expected size in bytes, when known (a catalogue size is checked, and enables closed ranges). */
  readonly size?: number;
  /** Expected checksums (lower-case hex). */
  readonly checksums: Checksums;
  /** Destination path relative to the job's destination directory (no `..`). */
  readonly dest: string;
}

const replicaSchema = z.union([
  z.string().min(1),
  z.object({ url: z.string().min(1), se: z.string().optional(), priority: z.number().optional() }),
]);

/** The typed file-list entry as accepted from JSON/YAML and the `grid.download` parameters. */
export const gridFileInputSchema = z.object({
  name: z.string().min(1).optional(),
  lfn: z.string().min(1).optional(),
  url: z.string().min(1).optional(),
  urls: z.array(replicaSchema).optional(),
  replicas: z.array(replicaSchema).optional(),
  size: z.number().int().nonnegative().optional(),
  checksums: z.record(z.string(), z.string()).optional(),
  adler32: z.string().optional(),
  md5: z.string().optional(),
  sha256: z.string().optional(),
  dest: z.string().min(1).optional(),
});

/** One entry of a typed file list: `urls` (or `url`/`replicas`) plus optional size, checksums, dest. */
export type GridFileInput = z.input<typeof gridFileInputSchema>;

/**
 * Turns a validated input entry into a {@link GridFile}: replicas ordered by priority (stable), checksums
 * normalised, destination derived from the name when missing and checked to stay inside the job's
 * destination directory.
 */
export function toGridFile(input: GridFileInput, index = 0): GridFile {
  const where = `file ${index + 1}${input.name ? ` (${printable(input.name)})` : ''}`;
  const raw = [...(input.urls ?? []), ...(input.replicas ?? []), ...(input.url ? [input.url] : [])];
  const replicas = raw
    .map((r): GridReplica => (typeof r === 'string' ? { url: r } : stripUndefined(r)))
    .map((r, i) => ({ r, i }))
    .sort((x, y) => (x.r.priority ?? Infinity) - (y.r.priority ?? Infinity) || x.i - y.i)
    .map(({ r }) => r);
  if (replicas.length === 0 && input.lfn === undefined) {
    throw new GridError('GRID_INPUT_INVALID', `${where}: no replica URL (give "urls", "url" or "replicas")`);
  }
  const name = input.name ?? input.lfn ?? input.dest ?? baseName(replicas[0]!.url);
  let checksums: Checksums;
  try {
    checksums = normalizeChecksums({
      ...input.checksums,
      ...(input.adler32 !== undefined && { adler32: input.adler32 }),
      ...(input.md5 !== undefined && { md5: input.md5 }),
      ...(input.sha256 !== undefined && { sha256: input.sha256 }),
    });
  } catch (e) {
    throw new GridError('GRID_INPUT_INVALID', `${where}: ${(e as Error).message}`);
  }
  const dest = safeRelativePath(input.dest ?? baseName(name), where);
  return {
    name,
    replicas,
    ...(input.size !== undefined && { size: input.size }),
    checksums,
    dest,
  };
}

function stripUndefined(r: {
  url: string;
  se?: string | undefined;
  priority?: number | undefined;
}): GridReplica {
  return {
    url: r.url,
    ...(r.se !== undefined && { se: r.se }),
    ...(r.priority !== undefined && { priority: r.priority }),
  };
}

/** The last path segment of a URL or LFN, without query. */
function baseName(nameOrUrl: string): string {
  const noQuery = nameOrUrl.split(/[?#]/, 1)[0] ?? nameOrUrl;
  const parts = noQuery.split('/').filter((p) => p !== '');
  return decodeURIComponent(parts[parts.length - 1] ?? 'download');
}

/**
 * Keeps a destination inside the job's directory: relative, no `..`, no absolute paths, no NUL. LFNs
 * and Metalink names come from outside, so a crafted `../../.bashrc` must not escape.
 */
export function safeRelativePath(p: string, where = 'file'): string {
  const problem = destinationProblem(p);
  if (problem !== undefined) {
    throw new GridError('GRID_DEST_INVALID', `${where}: destination ${printable(p)} ${problem}`, {
      retryable: false,
    });
  }
  return normalize(p.replace(/\\/g, '/'));
}

/** Why `p` cannot be a destination inside the job's directory, or undefined when it can. */
export function destinationProblem(p: string): string | undefined {
  if (p.includes('\0')) return 'contains a NUL character';
  const n = normalize(p.replace(/\\/g, '/'));
  if (isAbsolute(n)) return 'is absolute; it must be a relative path inside the destination directory';
  if (n === '.' || n === '' || n.split(sep).includes('..'))
    return 'leaves the destination directory; it must be a relative path inside it';
  return undefined;
}
