import type { ChecksumAlgorithm } from '../checksums/checksum-format.js';
import { GridError } from '../errors/grid-error.js';
import type { PartState } from '../files/part-file.js';
import { BatchPool } from './batch-pool.js';
import type {
  TransferAttempt,
  TransferDriver,
  TransferJob,
  TransferResult,
  TransferSession,
} from './driver.js';
import { downloadSegmented } from './http-segmented.js';
import { downloadSingle } from './http-single.js';
import { HttpTransport, toHttpUrl, type HeadInfo } from './http-transport.js';

/** What one HTTP attempt works with; shared by the single-stream and the segmented download. */
export interface HttpAttemptContext {
  readonly transport: HttpTransport;
  /** The session's write buffers (bodies are read into them). */
  readonly buffers: BatchPool;
  readonly job: TransferJob;
  readonly attempt: TransferAttempt;
  /** The replica as an http(s) URL. */
  readonly url: string;
  /** Expected size: the list's, else the resumed state's, else the HEAD's. */
  readonly size: number | undefined;
}

/** Default smallest file that is split into segments (when segments are asked for). */
const SEGMENT_MIN_SIZE = 256 * 1024 * 1024;

/**
 * Native HTTP(S) and WebDAV (`dav://`, `davs://` are HTTP underneath): resumes a `.part`
 * only when it provably holds the same file version (a stored validator compared with every response,
 * or expected checksums that will catch any difference), optionally in Range segments.
 */
export const httpDriver: TransferDriver = {
  name: 'http',
  schemes: ['http', 'https', 'dav', 'davs'],
  open: (job) => new HttpSession(job),
};

class HttpSession implements TransferSession {
  private readonly transport: HttpTransport;
  private readonly buffers = new BatchPool();

  constructor(private readonly job: TransferJob) {
    const o = job.options;
    this.transport = new HttpTransport({
      connectionsPerHost: o.perHost ?? 2,
      tls: job.tls,
      ...(o.timeouts?.connectMs !== undefined && { connectTimeoutMs: o.timeouts.connectMs }),
      ...(o.timeouts?.headersMs !== undefined && { headersTimeoutMs: o.timeouts.headersMs }),
      ...(o.timeouts?.bodyMs !== undefined && { bodyTimeoutMs: o.timeouts.bodyMs }),
    });
  }

  async transfer(a: TransferAttempt): Promise<TransferResult> {
    const url = toHttpUrl(a.url);
    let resumed = await loadResumeState(a);
    const wantSegments = (this.job.options.segments ?? 1) > 1;
    const head = needsHead(a, resumed, wantSegments) ? await this.head(url, a) : undefined;
    if (a.size !== undefined && head?.size !== undefined && head.size !== a.size) {
      throw new GridError(
        'GRID_SIZE_MISMATCH',
        `${a.where}: the replica has ${head.size} bytes, the list says ${a.size}`,
        { retryable: true },
      );
    }
    if (resumed?.validator !== undefined && head !== undefined && head.validator !== resumed.validator) {
      a.onLog(
        `${a.where}: the file changed on the server (${head.validator ?? 'no validator'} instead of ${resumed.validator}); discarding ${a.part.path}`,
      );
      await a.part.remove();
      resumed = undefined;
    }
    const ctx: HttpAttemptContext = {
      transport: this.transport,
      buffers: this.buffers,
      job: this.job,
      attempt: a,
      url,
      size: a.size ?? resumed?.size ?? head?.size,
    };
    const minSize = this.job.options.segmentMinSize ?? SEGMENT_MIN_SIZE;
    const segmented = resumed
      ? resumed.segments.length > 1
      : wantSegments && ctx.size !== undefined && ctx.size >= minSize && head?.acceptRanges === true;
    const result = segmented
      ? await downloadSegmented(ctx, resumed, head?.validator)
      : await downloadSingle(ctx, resumed);
    return { ...result, serverDigests: head?.digests ?? {} };
  }

  async close(aborted: boolean): Promise<void> {
    if (aborted) await this.transport.destroy().catch(() => undefined);
    else await this.transport.close().catch(() => undefined);
  }

  private async head(url: string, a: TransferAttempt): Promise<HeadInfo> {
    // Storage answers Want-Digest for adler32 and md5; SHA-256 is ours to compute for the artifact record.
    const ask = (['adler32', 'md5'] as const).filter((alg: ChecksumAlgorithm) => a.algorithms.has(alg));
    return this.transport.head(url, await this.job.authHeaders(url), ask, a.signal);
  }
}

/**
 * HEAD when the size is unknown (closed ranges and segments need it), when there is no checksum to
 * verify against (its Digest may give one), or when a new download may be segmented.
 */
function needsHead(a: TransferAttempt, resumed: PartState | undefined, wantSegments: boolean): boolean {
  return (
    a.size === undefined || Object.keys(a.expected).length === 0 || (wantSegments && resumed === undefined)
  );
}

/**
 * The state of a `.part` that may be resumed from this replica, or undefined (a `.part` that may not be
 * is removed). A resume needs: the `.part` present, the same size, and either the same replica with a
 * stored validator (compared with the server's later) or expected checksums that vouch for the bytes
 * whatever their origin (then the validator of another replica is dropped: it means nothing here).
 */
async function loadResumeState(a: TransferAttempt): Promise<PartState | undefined> {
  const state = await a.part.readState();
  const have = await a.part.size();
  if (state === undefined) {
    if (have !== undefined) await a.part.remove();
    return undefined;
  }
  const vouched = Object.keys(a.expected).length > 0;
  const why =
    have === undefined || have === 0
      ? undefined
      : a.size !== undefined && state.size !== undefined && state.size !== a.size
        ? `it has another size (${state.size}, expected ${a.size})`
        : state.url !== a.where && !vouched
          ? 'it came from another replica and no checksum can vouch for it'
          : state.validator === undefined && !vouched
            ? 'the server gave no validator (ETag, Last-Modified) and no checksum can vouch for it'
            : 'resumable';
  if (why !== 'resumable') {
    if (why !== undefined) a.onLog(`discarding ${a.part.path}: ${why}`);
    await a.part.remove();
    return undefined;
  }
  return state.url === a.where ? state : { ...state, url: a.where, validator: undefined };
}
