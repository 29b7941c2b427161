import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  collectArtifacts,
  isBeamlineError,
  type ExecOptions,
  type ProcessEvent,
  type ProcessSpec,
  type Runner,
} from '@beamline/core';
import { Observable } from 'rxjs';
import { PostgresError } from '../errors/postgres-error.js';
import type { ArtifactShare } from './artifact-share.js';
import type { QueuedFiles, ReportedFile, StagedExit } from './coordinator-artifacts.js';
import { readMark } from './folder-mark.js';
import { Limiter } from './limiter.js';
import { preparePlace } from './safe-place.js';

type ExitEvent = Extract<ProcessEvent, { type: 'exit' }>;

/** How many inputs a worker downloads at once. */
const DOWNLOADS_AT_ONCE = 4;

/** Scratch folders are `beamline-step-<pid>-<random>`: the pid says whose they are. */
const SCRATCH_PREFIX = 'beamline-step-';
/** Parent folders already cleaned by this process. */
const cleaned = new Set<string>();

/**
 * Once per process and parent folder: removes the scratch folders of workers that are gone (killed with
 * `kill -9` mid-step, so they could not remove their own). A folder whose process is alive is left.
 */
async function removeStaleScratch(parent: string): Promise<void> {
  if (cleaned.has(parent)) return;
  cleaned.add(parent);
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return;
  }
  await Promise.all(
    names.map(async (name) => {
      const pid = Number(/^beamline-step-(\d+)-/.exec(name)?.[1]);
      if (!Number.isSafeInteger(pid) || pid === process.pid || alive(pid)) return;
      await rm(path.join(parent, name), { recursive: true, force: true }).catch(() => undefined);
    }),
  );
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The share a worker runs this spec through: it has one, the spec describes its files, and the run's
 * folder is not on this host: no folder at its path, or one without the coordinator's mark (a folder of
 * the same name that is not the shared one). Undefined otherwise: the step runs in the run's folder.
 */
export function shareFor(share: ArtifactShare | undefined, spec: ProcessSpec): ArtifactShare | undefined {
  const files = spec.files as QueuedFiles | undefined;
  if (share === undefined || files === undefined) return undefined;
  if (!isFolder(files.root)) return share;
  return files.mark !== undefined && readMark(files.root) !== files.mark ? share : undefined;
}

/**
 * Runs a step on a host that does not have the run's folder: makes a private scratch folder that stands
 * for it, fetches the step's input files by digest (verified), rewrites the spec's paths (working
 * directory, mounts, and the folder's path in arguments and environment values), runs it with `runner`,
 * then uploads the files its declared outputs match and reports them (relative path, sha256, size) in
 * the `exit` event's `files`. The scratch folder is removed at the end. A share or an input that cannot be
 * reached is an error naming the file and the share (the attempt fails, retryable).
 */
export function execThroughShare(
  share: ArtifactShare,
  runner: Runner,
  spec: ProcessSpec,
  options: ExecOptions = {},
): Observable<ProcessEvent> {
  return new Observable<ProcessEvent>((subscriber) => {
    const files = spec.files!;
    const transfers = new AbortController();
    const signal = options.signal;
    const onAbort = (): void => transfers.abort(signal?.reason);
    if (signal?.aborted) transfers.abort(signal.reason);
    else signal?.addEventListener('abort', onAbort, { once: true });
    let inner: { unsubscribe(): void } | undefined;
    let release: (() => void) | undefined;
    let scratch: string | undefined;
    let closed = false;
    const cleanup = (): void => {
      signal?.removeEventListener('abort', onAbort);
      if (scratch !== undefined) void rm(scratch, { recursive: true, force: true }).catch(() => undefined);
      scratch = undefined;
    };

    const cancelled = (): void => {
      subscriber.next({ type: 'exit', code: null, signal: null, oomKilled: false, reason: 'cancelled' });
      subscriber.complete();
      cleanup();
    };

    const run = async (): Promise<void> => {
      const parent = share.scratchDir ?? os.tmpdir();
      await removeStaleScratch(parent);
      scratch = await mkdtemp(path.join(parent, `${SCRATCH_PREFIX}${process.pid}-`));
      const work = path.join(scratch, 'run');
      await mkdir(work);
      const map = pathMapper(files.root, work);
      // Inputs: each once, into the scratch folder at the place it has under the run's folder, a few at once.
      const seen = new Set<string>();
      const places: Array<{ input: (typeof files.inputs)[number]; target: string }> = [];
      for (const input of files.inputs) {
        const target = map(input.path);
        if (target === undefined) {
          throw new PostgresError(
            'POSTGRES_ARTIFACT_INVALID',
            `input ${input.path} lies outside the run's folder ${files.root}: a worker without that folder cannot place it (keep a step's files under the run's folder, or mount the folder on the workers)`,
            { retryable: false, details: { input: input.path, root: files.root } },
          );
        }
        if (seen.has(target)) continue;
        seen.add(target);
        places.push({ input, target });
      }
      const downloads = new Limiter(DOWNLOADS_AT_ONCE);
      await Promise.all(
        places.map(({ input, target }) =>
          downloads
            .run(async () => {
              if (transfers.signal.aborted) return;
              const relative = path.relative(work, target);
              const destination = await preparePlace(work, relative.split(path.sep), 'the job spec');
              await share.download(input, destination, `input ${relative}`, transfers.signal);
            })
            .catch((error: unknown) => {
              // The first failure stops the other downloads; it is the one reported.
              if (!transfers.signal.aborted) transfers.abort(error);
              throw error;
            }),
        ),
      );
      if (transfers.signal.aborted) return cancelled();
      const staged = rewriteSpec(spec, map);
      for (const folder of [staged.cwd, ...(staged.mounts ?? []).map((mount) => mount.source)]) {
        if (folder !== undefined && folder.startsWith(work)) await mkdir(folder, { recursive: true });
      }
      const outputsDir = files.outputs === undefined ? undefined : map(files.outputs.dir);
      if (files.outputs !== undefined && outputsDir === undefined) {
        throw new PostgresError(
          'POSTGRES_ARTIFACT_INVALID',
          `the step's work directory ${files.outputs.dir} lies outside the run's folder ${files.root}: a worker without that folder cannot bring its outputs back (keep its workdir under the run's folder, or mount the folder on the workers)`,
          { retryable: false, details: { dir: files.outputs.dir, root: files.root } },
        );
      }
      if (outputsDir !== undefined) await mkdir(outputsDir, { recursive: true });
      if (transfers.signal.aborted) return cancelled();
      let exit: ExitEvent | undefined;
      await new Promise<void>((resolve, reject) => {
        // Cut off (unsubscribed), the runner says nothing more: the wait ends there too.
        release = resolve;
        inner = runner.exec(staged, options).subscribe({
          next: (event) => {
            if (event.type === 'exit') exit = event;
            else subscriber.next(event);
          },
          error: reject,
          complete: resolve,
        });
      });
      if (exit === undefined || closed) {
        subscriber.complete();
        return;
      }
      const succeeded = exit.code === 0 && !exit.oomKilled && exit.reason === undefined;
      const reported =
        succeeded && files.outputs !== undefined && outputsDir !== undefined
          ? await uploadOutputs(share, work, outputsDir, files.outputs.patterns, transfers.signal)
          : undefined;
      const event: StagedExit = reported === undefined ? exit : { ...exit, files: reported };
      subscriber.next(event);
      subscriber.complete();
    };

    run().then(
      () => cleanup(),
      (error: unknown) => {
        cleanup();
        if (closed) return;
        if (signal?.aborted && !isBeamlineError(error)) {
          cancelled();
          return;
        }
        subscriber.error(error);
      },
    );
    return () => {
      closed = true;
      inner?.unsubscribe();
      release?.();
      transfers.abort(new Error('the step was cut off'));
      cleanup();
    };
  });
}

/** Uploads what each pattern matches under `dir` (inside `work`); a pattern that matches nothing is left to the coordinator's check. */
async function uploadOutputs(
  share: ArtifactShare,
  work: string,
  dir: string,
  patterns: readonly string[],
  signal: AbortSignal,
): Promise<ReportedFile[]> {
  const reported = new Map<string, ReportedFile>();
  for (const pattern of patterns) {
    let matched;
    try {
      matched = await collectArtifacts(dir, [pattern], signal);
    } catch (error) {
      // Nothing matched: the coordinator's own collection says so, with the step's context.
      if (isBeamlineError(error) && error.code === 'CORE_OUTPUT_MISSING') continue;
      throw error;
    }
    for (const artifact of matched.artifacts) {
      const relative = path.relative(work, artifact.path);
      if (relative.startsWith('..') || path.isAbsolute(relative)) continue;
      const name = relative.split(path.sep).join('/');
      if (reported.has(name)) continue;
      await share.upload(artifact.path, artifact, `output ${name}`, signal);
      reported.set(name, { path: name, sha256: artifact.sha256, size: artifact.size });
    }
  }
  return [...reported.values()];
}

/** Maps a path under `root` to the same place under `work`; undefined for a path outside `root`. */
function pathMapper(root: string, work: string): (file: string) => string | undefined {
  return (file) => {
    const relative = path.relative(root, path.resolve(file));
    if (relative === '') return work;
    if (relative.startsWith('..') || path.isAbsolute(relative)) return undefined;
    return path.join(work, relative);
  };
}

/**
 * The spec with the run's folder replaced by the scratch folder: the working directory and mount sources
 * under it, and the folder's path where it appears in arguments and environment values (a step's
 * `${{ steps.x.outputs.file }}` is an absolute path in the run's folder).
 */
function rewriteSpec(spec: ProcessSpec, map: (file: string) => string | undefined): ProcessSpec {
  const { root } = spec.files!;
  const work = map(root)!;
  const text = (value: string): string => replaceFolder(value, root, work);
  const staged: ProcessSpec = { ...spec, argv: spec.argv.map(text) };
  if (spec.cwd !== undefined) staged.cwd = map(spec.cwd) ?? spec.cwd;
  if (spec.env !== undefined) {
    staged.env = Object.fromEntries(Object.entries(spec.env).map(([key, value]) => [key, text(value)]));
  }
  if (spec.mounts !== undefined) {
    staged.mounts = spec.mounts.map((mount) => ({ ...mount, source: map(mount.source) ?? mount.source }));
  }
  return staged;
}

/** `value` with every occurrence of the folder path `from` (as a whole path prefix) replaced by `to`. */
function replaceFolder(value: string, from: string, to: string): string {
  if (!value.includes(from)) return value;
  const escaped = from.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // A whole path: `/runs/a` matches neither in `/runs/ab` nor in `/x/runs/a`.
  return value.replace(new RegExp(`(?<![\\w./-])${escaped}(?=$|[/\\s"':;,=)\\]}])`, 'g'), () => to);
}

function isFolder(folder: string): boolean {
  try {
    return existsSync(folder) && statSync(folder).isDirectory();
  } catch {
    return false;
  }
}
