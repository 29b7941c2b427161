import path from 'node:path';
import {
  collectArtifacts,
  isBeamlineError,
  quoteText,
  type ProcessEvent,
  type ProcessFiles,
} from '@beamline/core';
import { PostgresError } from '../errors/postgres-error.js';
import picomatch from 'picomatch';
import type { ArtifactShare } from './artifact-share.js';
import { folderMark } from './folder-mark.js';
import { Limiter } from './limiter.js';
import { preparePlace, relativeComponents } from './safe-place.js';

/** A file a worker uploaded: its name relative to the run's folder, its digest and size. */
export interface ReportedFile {
  path: string;
  sha256: string;
  size: number;
}

/**
 * A step's files as its job carries them: every input digested, and the mark of the coordinator's run
 * folder, by which a worker tells that folder from another at the same path.
 */
export type QueuedFiles = ProcessFiles & { mark?: string };

/** The exit record of a step a worker ran away from the run's folder: the outputs it put on the share. */
export type StagedExit = Extract<ProcessEvent, { type: 'exit' }> & { files?: ReportedFile[] };

/** How many uploads this process runs at once. */
const UPLOADS_AT_ONCE = 4;

/** Most files one exit record may list. */
const MAX_REPORTED_FILES = 100_000;

/**
 * The coordinator's side of the artifact share: before a step's job is queued, the files it reads (the
 * artifacts of the steps it needs) are put on the share, unless this process already knows they are
 * there; after a worker that ran the step away from the run's folder reports its outputs, they are
 * fetched into the run's folder (verified, temporary name then rename, never outside it, never through a
 * link) before the step's exit is passed on, so `exec` collects them, and the cache and `resume` see them,
 * as for a local step.
 */
export class CoordinatorArtifacts {
  /** Digests this process put on the share or fetched from it: on the share as far as it knows. */
  readonly #known = new Map<string, Promise<void>>();
  /** Uploads at once, at most (a step reading thousands of files opens no more connections than this). */
  readonly #uploads = new Limiter(UPLOADS_AT_ONCE);

  constructor(readonly share: ArtifactShare) {}

  /**
   * Puts the step's input files on the share (each digest once per process, concurrent calls share one
   * upload): the artifacts of earlier steps, and the files of the run's folder its `reads` patterns match
   * (hashed now). Returns the files for the job: every input with its digest, no patterns.
   * @throws PostgresError `POSTGRES_ARTIFACT_MISSING` for a pattern that matches no file.
   */
  async publishInputs(
    files: ProcessFiles | undefined,
    signal?: AbortSignal,
  ): Promise<QueuedFiles | undefined> {
    if (files === undefined) return undefined;
    const { reads, ...rest } = files;
    const inputs =
      reads === undefined ? files.inputs : [...files.inputs, ...(await matchReads(reads, signal))];
    await Promise.all(
      inputs.map((input) => {
        let upload = this.#known.get(input.sha256);
        if (upload === undefined) {
          const what = `input ${relativeName(files.root, input.path)}`;
          upload = this.#uploads.run(() => this.share.upload(input.path, input, what, signal));
          this.#known.set(input.sha256, upload);
          // A failed upload is tried again by the next step that needs the file.
          upload.catch(() => this.#known.delete(input.sha256));
        }
        return upload;
      }),
    );
    const mark = folderMark(files.root);
    return { ...rest, inputs, ...(mark === undefined ? {} : { mark }) };
  }

  /**
   * A worker could not get an input (missing or corrupt on the share): the next attempt uploads them again
   * rather than trust that they are there.
   */
  forgetInputs(files: ProcessFiles | undefined): void {
    for (const input of files?.inputs ?? []) this.#known.delete(input.sha256);
  }

  /**
   * Fetches the files a worker reported into the run's folder (`files.root`). Every name is checked
   * (relative, no `..`, no link on the way), every file against its digest.
   * @throws PostgresError `POSTGRES_ARTIFACT_INVALID` (a hostile name or a digest mismatch),
   * `POSTGRES_ARTIFACT_MISSING`, `POSTGRES_ARTIFACT_UNREACHABLE`.
   */
  async receiveOutputs(
    files: ProcessFiles | undefined,
    reported: unknown,
    worker: string,
    signal?: AbortSignal,
  ): Promise<void> {
    const from = `worker ${worker}`;
    const list = checkReport(reported, from);
    if (list.length === 0) return;
    if (files === undefined) {
      throw new PostgresError(
        'POSTGRES_ARTIFACT_INVALID',
        `${from} reported output files for a step whose files were not described (no run folder to put them in)`,
      );
    }
    // Names first, all of them: a report with one hostile name places nothing.
    const declared = declaredOutputs(files);
    const placed = new Set<string>();
    const checked = list.map((file) => {
      const components = relativeComponents(file.path, `${from}'s report`);
      const key = components.join('/');
      if (placed.has(key)) {
        throw new PostgresError('POSTGRES_ARTIFACT_INVALID', `${from}'s report names ${key} twice`);
      }
      if (!declared(path.join(files.root, ...components))) {
        throw new PostgresError(
          'POSTGRES_ARTIFACT_INVALID',
          `${from}'s report names ${quoteText(key)}, which none of the step's declared outputs matches: refused (a worker brings back only what the step declares)`,
          { details: { name: key } },
        );
      }
      placed.add(key);
      return { file, components };
    });
    for (const { file, components } of checked) {
      const destination = await preparePlace(files.root, components, `${from}'s report`);
      await this.share.download(file, destination, `output ${file.path} of ${from}`, signal);
      this.#known.set(file.sha256, Promise.resolve());
    }
  }
}

/** The error for a worker that reports files to a coordinator without a share. */
export function noShareForReport(worker: string): PostgresError {
  return new PostgresError(
    'POSTGRES_ARTIFACT_UNREACHABLE',
    `worker ${worker} ran the step away from the run's folder and uploaded its outputs to an artifact share, but this coordinator has no artifact share configured: give the coordinator the same share (--artifact-share, artifacts.share in the plugin options, or BEAMLINE_ARTIFACT_SHARE), or mount the run's folder on the worker`,
    { details: { worker } },
  );
}

function checkReport(reported: unknown, from: string): ReportedFile[] {
  if (reported === undefined || reported === null) return [];
  if (!Array.isArray(reported) || reported.length > MAX_REPORTED_FILES) {
    throw new PostgresError(
      'POSTGRES_ARTIFACT_INVALID',
      `${from} reported its output files as something other than a list of at most ${MAX_REPORTED_FILES} files`,
    );
  }
  return reported.map((entry: unknown) => {
    const file = entry as Partial<ReportedFile> | null;
    if (
      typeof file !== 'object' ||
      file === null ||
      typeof file.path !== 'string' ||
      typeof file.sha256 !== 'string' ||
      typeof file.size !== 'number'
    ) {
      throw new PostgresError(
        'POSTGRES_ARTIFACT_INVALID',
        `${from} reported an output file without a path, sha256 and size: ${JSON.stringify(entry)?.slice(0, 200)}`,
      );
    }
    return { path: file.path, sha256: file.sha256, size: file.size };
  });
}

/**
 * Whether a file (absolute) is one the step's declared output globs could match: relative to their folder,
 * as the glob library reads them (a pattern naming a folder takes what is under it); dot files included.
 */
function declaredOutputs(files: ProcessFiles): (file: string) => boolean {
  const outputs = files.outputs;
  if (outputs === undefined) return () => false;
  const matchers = outputs.patterns.map((pattern) => {
    const bare = pattern.replace(/\/+$/, '');
    return picomatch([bare, `${bare}/**`], { dot: true });
  });
  return (file) => {
    const relative = path.relative(outputs.dir, file).split(path.sep).join('/');
    return matchers.some((matches) => matches(relative));
  };
}

/** The files of the run's folder the patterns match, with their digests. */
async function matchReads(
  reads: NonNullable<ProcessFiles['reads']>,
  signal: AbortSignal | undefined,
): Promise<ProcessFiles['inputs']> {
  const matched: Array<ProcessFiles['inputs'][number]> = [];
  for (const pattern of reads.patterns) {
    try {
      const { artifacts } = await collectArtifacts(reads.dir, [pattern], signal);
      for (const { path: file, sha256, size } of artifacts) matched.push({ path: file, sha256, size });
    } catch (error) {
      if (!isBeamlineError(error) || error.code !== 'CORE_OUTPUT_MISSING') throw error;
      throw new PostgresError(
        'POSTGRES_ARTIFACT_MISSING',
        `the step's inputs pattern ${quoteText(pattern)} matches no file in ${reads.dir}: inputs name files of the run's folder`,
        { retryable: false, details: { pattern, dir: reads.dir } },
      );
    }
  }
  return matched;
}

function relativeName(root: string, file: string): string {
  const relative = path.relative(root, file);
  return relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}
