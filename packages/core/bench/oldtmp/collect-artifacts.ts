import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import { glob } from 'tinyglobby';
import type { Artifact } from '../../src/contracts/artifact.js';
import { CoreError } from '../../src/errors/core-error.js';

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
 * what it promised has failed, however it exited.
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
      digest = hashFile(resolve(workdir, relative), signal);
      digests.set(relative, digest);
    }
    return digest;
  };

  if (isPatternList(patterns)) {
    const seen = new Set<string>();
    for (const pattern of patterns) {
      for (const relative of await match(workdir, pattern)) seen.add(relative);
    }
    for (const relative of [...seen].sort()) {
      artifacts.push({
        name: relative,
        path: resolve(workdir, relative),
        ...(await describe(relative)),
        kind: 'file',
      });
    }
    return { artifacts, outputs };
  }

  for (const [name, value] of Object.entries(patterns)) {
    const globs: readonly string[] = typeof value === 'string' ? [value] : value;
    const matched = new Set<string>();
    for (const pattern of globs) {
      for (const relative of await match(workdir, pattern)) matched.add(relative);
    }
    const files = [...matched].sort();
    const paths = files.map((relative) => resolve(workdir, relative));
    const [single] = paths;
    outputs[name] = paths.length === 1 && single !== undefined ? single : paths;
    for (const relative of files) {
      // A single file carries the output's name; several get the output name as a prefix to stay unique.
      const artifactName = files.length === 1 ? name : `${name}/${relative}`;
      artifacts.push({
        name: artifactName,
        path: resolve(workdir, relative),
        ...(await describe(relative)),
        kind: 'file',
      });
    }
  }
  return { artifacts, outputs };
}

function isPatternList(patterns: OutputPatterns): patterns is readonly string[] {
  return Array.isArray(patterns);
}

async function match(workdir: string, pattern: string): Promise<string[]> {
  const files = await glob(pattern, { cwd: workdir, onlyFiles: true });
  if (files.length === 0) {
    throw new CoreError('CORE_OUTPUT_MISSING', `Output pattern '${pattern}' matched no file in ${workdir}`, {
      retryable: false,
      details: { pattern, workdir },
    });
  }
  return files;
}

/** SHA-256 and size of a file, streamed so large outputs never sit in memory. */
export async function hashFile(
  path: string,
  signal?: AbortSignal,
): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  const stream = createReadStream(path, {
    highWaterMark: 1 << 20,
    ...(signal === undefined ? {} : { signal }),
  });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest('hex'), size };
}
