import { setMaxListeners } from 'node:events';
import { Observable } from 'rxjs';
import { GridError, isGridError } from '../errors/grid-error.js';
import { toGridError } from '../transport/failure.js';
import { DownloadJob } from './download-job.js';
import type { DownloadOptions } from './download-options.js';
import type { GridEvent, PlannedFile } from './grid-event.js';
import type { GridFile } from '../model/grid-file.js';

/**
 * Downloads files (verified, resumable, never visible unverified under the final name) and reports
 * progress. The Observable is cold: the job starts on subscription, and unsubscribing aborts it,
 * keeping `.part` files for a later resume. It completes after `done`, or errors with a GridError
 * (`GRID_FILES_FAILED` lists the files that failed; the others are in place).
 */
export function download(files: readonly GridFile[], options: DownloadOptions): Observable<GridEvent> {
  return new Observable<GridEvent>((subscriber) => {
    const ctl = new AbortController();
    // Every file waiting for a slot listens on this signal; thousands of files are normal.
    setMaxListeners(0, ctl.signal);
    const outer = options.signal;
    const onOuterAbort = () => ctl.abort(outer?.reason);
    if (outer?.aborted) ctl.abort(outer.reason);
    else outer?.addEventListener('abort', onOuterAbort, { once: true });
    const job = new DownloadJob(files, options, ctl.signal, (e) => {
      if (!subscriber.closed) subscriber.next(e);
    });
    job.run().then(
      () => subscriber.complete(),
      (e: unknown) => subscriber.error(jobError(e, ctl.signal)),
    );
    return () => {
      outer?.removeEventListener('abort', onOuterAbort);
      if (!ctl.signal.aborted) ctl.abort(new GridError('GRID_ABORTED', 'unsubscribed'));
    };
  });
}

/** `download` with `dryRun`: resolves to the plan without transferring or writing anything. */
export async function planDownload(
  files: readonly GridFile[],
  options: DownloadOptions,
): Promise<PlannedFile[]> {
  let planned: PlannedFile[] = [];
  await new Promise<void>((res, rej) => {
    download(files, { ...options, dryRun: true }).subscribe({
      next: (e) => {
        if (e.type === 'plan') planned = [...e.files];
      },
      error: rej,
      complete: res,
    });
  });
  return planned;
}

/** What the Observable errors with: always a GridError (`GRID_ABORTED` once the job was cancelled). */
function jobError(e: unknown, signal: AbortSignal): GridError {
  if (signal.aborted && !isGridError(e, 'GRID_ABORTED')) {
    return new GridError('GRID_ABORTED', 'download aborted; .part files are kept for resume', {
      retryable: false,
      cause: signal.reason,
    });
  }
  return toGridError(e, 'download');
}
