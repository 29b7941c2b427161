import { isUtf8 } from 'node:buffer';
import { lstat, readdir } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import { glob } from 'tinyglobby';
import type { Artifact } from '../contracts/artifact.js';
import { CoreError } from '../errors/core-error.js';
import { digestFile } from '../util/digest-file.js';
import { setOwn } from '../util/own-keys.js';
import { escapeText, quoteText } from '../util/quote-text.js';

/** Declared outputs: a list of globs (artifacts only), or output name → glob or globs. */
export type OutputPatterns = readonly string[] | Readonly<Record<string, string | readonly string[]>>;

/** What {@link collectArtifacts} found. */
export interface CollectedOutputs {
  /** One per matched file (per output name for named outputs), in a stable order. */
  artifacts: Artifact[];
  /** Named outputs: the absolute path for a single match, the sorted paths for several. */
  outputs: Record<string, string | string[]>;
}

/**
 * Resolves the declared output globs against `workdir` and records each matched file with its size and
 * streamed SHA-256. A pattern that matches nothing is `CORE_OUTPUT_MISSING`: a step that did not produce
 * what it promised has failed, however it exited. A matched file that cannot be recorded is
 * `CORE_OUTPUT_UNREADABLE`, not retryable (running the step again makes the same file): a name that is not
 * valid UTF-8 (artifact paths are text, passed on as arguments and JSON) or a file that cannot be read.
 */
export async function collectArtifacts(
  workdir: string,
  patterns: OutputPatterns,
  signal?: AbortSignal,
): Promise<CollectedOutputs> {
  const artifacts: Artifact[] = [];
  const outputs: Record<string, string | string[]> = {};
  const digests = new Map<string, Promise<{ sha256: string; size: number }>>();
  const describe = (relative: string): Promise<{ sha256: string; size: number }> => {
    let digest = digests.get(relative);
    if (digest === undefined) {
      digest = hashOutput(workdir, relative, signal);
      digests.set(relative, digest);
    }
    return digest;
  };

  const artifact = async (name: string, relative: string): Promise<Artifact> => ({
    name,
    path: resolve(workdir, relative),
    ...(await describe(relative)),
    kind: 'file',
  });

  if (isPatternList(patterns)) {
    for (const relative of await matchAll(workdir, patterns))
      artifacts.push(await artifact(relative, relative));
    return { artifacts, outputs };
  }

  for (const [name, value] of Object.entries(patterns)) {
    const files = await matchAll(workdir, typeof value === 'string' ? [value] : value);
    const paths = files.map((relative) => resolve(workdir, relative));
    const [single] = paths;
    setOwn(outputs, name, paths.length === 1 && single !== undefined ? single : paths);
    for (const relative of files) {
      // A single file carries the output's name; several get the output name as a prefix to stay unique.
      artifacts.push(await artifact(files.length === 1 ? name : `${name}/${relative}`, relative));
    }
  }
  return { artifacts, outputs };
}

function isPatternList(patterns: OutputPatterns): patterns is readonly string[] {
  return Array.isArray(patterns);
}

/** The files (relative to `workdir`) that any of `patterns` matches, sorted, each once. */
async function matchAll(workdir: string, patterns: readonly string[]): Promise<string[]> {
  const matched = new Set<string>();
  for (const pattern of patterns) {
    for (const relative of await match(workdir, pattern)) matched.add(relative);
  }
  return [...matched].sort();
}

/** The files one pattern matches. @throws CoreError `CORE_OUTPUT_MISSING` when it matches none. */
async function match(workdir: string, pattern: string): Promise<string[]> {
  const files = await glob(pattern, { cwd: workdir, onlyFiles: true });
  if (files.length === 0) {
    // The glob cannot enter a folder whose name is not UTF-8: say so rather than only "no file".
    const odd = await nonUtf8Names(workdir);
    const hint =
      odd.length === 0
        ? ''
        : `; names that are not valid UTF-8 cannot be matched: ${odd.join(', ')}${odd.length === ODD_NAMES_LISTED ? ', …' : ''}`;
    throw new CoreError(
      'CORE_OUTPUT_MISSING',
      `Output pattern ${quoteText(pattern)} matched no file in ${workdir}${hint}`,
      { retryable: false, details: { pattern, workdir, ...(odd.length > 0 && { nonUtf8Names: odd }) } },
    );
  }
  return files;
}

/** {@link digestFile} of a matched output, with a clear error for a file that cannot be recorded. */
async function hashOutput(
  workdir: string,
  relative: string,
  signal: AbortSignal | undefined,
): Promise<{ sha256: string; size: number }> {
  const path = resolve(workdir, relative);
  try {
    return await digestFile(path, signal);
  } catch (error) {
    if (signal?.aborted) throw error;
    const errno = (error as NodeJS.ErrnoException).code;
    // The glob lists names decoded as UTF-8; bytes that are not UTF-8 come back as U+FFFD, a name that
    // does not exist. Find the real one to name it.
    const invalid = errno === 'ENOENT' ? await nonUtf8Name(workdir, relative) : undefined;
    if (invalid !== undefined) {
      throw new CoreError(
        'CORE_OUTPUT_UNREADABLE',
        `Output file ${invalid} in ${workdir} has a name that is not valid UTF-8; Beamline records artifact paths as text. Rename it (for example in the step's command) to collect it.`,
        { retryable: false, details: { workdir, name: invalid, reason: 'name-not-utf8' } },
      );
    }
    throw new CoreError(
      'CORE_OUTPUT_UNREADABLE',
      `Output file ${escapeName(Buffer.from(relative))} in ${workdir} cannot be read: ${errno ?? String(error)}`,
      { cause: error, retryable: false, details: { workdir, name: relative, errno } },
    );
  }
}

/**
 * The escaped real name (`out-\xff.bin`) of a matched path that only exists under a name that is not
 * valid UTF-8, found component by component; undefined when there is none (the file was deleted).
 */
async function nonUtf8Name(workdir: string, relative: string): Promise<string | undefined> {
  let directory: string | Buffer = workdir;
  const names: Buffer[] = [];
  for (const component of relative.split(sep)) {
    let entries: Buffer[];
    try {
      entries = await readdir(directory, { encoding: 'buffer' });
    } catch {
      return undefined;
    }
    const exact = entries.find((entry) => entry.equals(Buffer.from(component)));
    const lossy = entries.find((entry) => !isUtf8(entry) && entry.toString('utf8') === component);
    const entry = exact ?? lossy;
    if (entry === undefined) return undefined;
    names.push(entry);
    directory = Buffer.concat([Buffer.from(directory), Buffer.from(sep), entry]);
  }
  if (names.every((name) => isUtf8(name))) return undefined;
  // Exists under the real bytes: lstat by the Buffer path says so.
  try {
    await lstat(directory);
  } catch {
    return undefined;
  }
  return names.map(escapeName).join(sep);
}

const ODD_NAMES_LISTED = 3;
/** Entries a search for odd names looks at, at most: a failure message is not worth a long walk. */
const ODD_NAMES_SEARCH_LIMIT = 10_000;

/** Up to three paths under `workdir` (escaped, relative) whose names are not valid UTF-8. */
async function nonUtf8Names(workdir: string): Promise<string[]> {
  const found: string[] = [];
  const queue: { path: Buffer; display: string }[] = [{ path: Buffer.from(workdir), display: '' }];
  let seen = 0;
  while (queue.length > 0 && found.length < ODD_NAMES_LISTED && seen < ODD_NAMES_SEARCH_LIMIT) {
    const folder = queue.shift()!;
    let entries;
    try {
      entries = await readdir(folder.path, { encoding: 'buffer', withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) {
      seen++;
      const name = entry.name as unknown as Buffer;
      const display = `${folder.display}${escapeName(name)}`;
      if (!isUtf8(name)) found.push(display);
      else if (entry.isDirectory())
        queue.push({
          path: Buffer.concat([folder.path, Buffer.from(sep), name]),
          display: `${display}${sep}`,
        });
      if (found.length === ODD_NAMES_LISTED) break;
    }
  }
  return found;
}

/** A file name for a message: valid UTF-8 as it is (controls escaped), other bytes as `\xNN`. */
function escapeName(name: Buffer): string {
  let text = '';
  let start = 0;
  while (start < name.length) {
    // The longest valid UTF-8 run from `start`, then one invalid byte.
    let end = name.length;
    while (end > start && !isUtf8(name.subarray(start, end))) end--;
    text += escapeText(name.toString('utf8', start, end));
    if (end < name.length) {
      text += `\\x${name[end]!.toString(16).padStart(2, '0')}`;
      end++;
    }
    start = end;
  }
  return text;
}
