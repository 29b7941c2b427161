import type { FileHandle } from 'node:fs/promises';
import { adler32Combine, formatAdler32 } from '../checksums/adler32.js';
import type { ChecksumAlgorithm, Checksums } from '../checksums/checksum-format.js';
import { hashExisting, type FileHasher } from '../checksums/hash-worker.js';
import { GridError, isGridError } from '../errors/grid-error.js';
import { trustedBytes, type PartFile, type PartSegment, type PartState } from '../files/part-file.js';
import { pumpResponse } from './body-writer.js';
import type { HttpAttemptContext } from './http-driver.js';
import { checkPartial, contentChanged, responseValidator, unexpectedStatus } from './http-response.js';

/** fsync every this many bytes per segment, by default (progress itself is saved after every write). */
const CHECKPOINT_BYTES = 64 * 1024 * 1024;
/**
 * Smaller write batches than a single stream's: progress is saved after each, so this bounds what a
 * killed process loses per segment (the cost, a few more `writev` calls, only applies to segments).
 */
const SEGMENT_WRITE_BATCH = 1024 * 1024;

/**
 * Several Range requests in parallel into one `.part`. Each segment's progress is saved after every
 * written batch (1 MiB), so a killed process loses little; fsynced bytes are recorded separately
 * for a resume after a reboot. Each segment keeps its own adler32 (combined at the end, zlib's
 * adler32_combine); md5 and SHA-256 cannot be combined, so they are computed by one sequential read of
 * the assembled file. A segment that meets another file version (validator, 200, 412) stops them all,
 * and the `.part` and its state are removed after every segment has stopped.
 */
export async function downloadSegmented(
  ctx: HttpAttemptContext,
  resumed: PartState | undefined,
  validator: string | undefined,
): Promise<{ size: number; checksums: Checksums }> {
  const size = ctx.size!;
  const state = resumed ?? {
    version: 2 as const,
    url: ctx.attempt.where,
    size,
    validator,
    expected: ctx.attempt.expected,
    bootId: undefined,
    segments: splitSegments(size, ctx.job.options.segments ?? 1),
  };
  return new SegmentedDownload(ctx, state).run();
}

/** Equal segments (the last takes the remainder). */
export function splitSegments(size: number, n: number): PartSegment[] {
  const len = Math.ceil(size / n);
  const out: PartSegment[] = [];
  for (let start = 0; start < size; start += len)
    out.push({ start, end: Math.min(size, start + len), done: 0, durable: 0 });
  return out;
}

class SegmentedDownload {
  /** Stops the sibling segments when one fails. */
  private readonly siblings = new AbortController();
  private readonly signal: AbortSignal;
  private readonly saver: StateSaver;
  private readonly adlerOnly: ReadonlySet<ChecksumAlgorithm>;
  /** The first segment failure in time (the others are mostly its consequence: aborted siblings). */
  private firstFailure: { error: unknown } | undefined;

  constructor(
    private readonly ctx: HttpAttemptContext,
    private readonly state: PartState,
  ) {
    this.signal = AbortSignal.any([ctx.attempt.signal, this.siblings.signal]);
    this.saver = new StateSaver(ctx.attempt.part, state);
    this.adlerOnly = new Set<ChecksumAlgorithm>(ctx.attempt.algorithms.has('adler32') ? ['adler32'] : []);
  }

  async run(): Promise<{ size: number; checksums: Checksums }> {
    const a = this.ctx.attempt;
    for (const seg of this.state.segments) seg.done = trustedBytes(this.state, seg);
    const resumed = this.state.segments.reduce((n, s) => n + s.done, 0);
    if (resumed > 0)
      a.onResume(
        resumed,
        `resuming ${a.where}: ${resumed} of ${this.state.size} bytes in ${this.state.segments.length} segments`,
      );
    await a.part.writeState(this.state);
    const fh = await a.part.open(false);
    let outcome: PromiseSettledResult<FileHasher | undefined>[];
    try {
      outcome = await Promise.allSettled(this.state.segments.map((seg) => this.fetchSegment(seg, fh)));
      await fh.datasync();
    } finally {
      await fh.close();
    }
    const failed = outcome
      .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      .map((r) => r.reason as unknown);
    if (failed.length > 0) throw await this.failed(failed);
    for (const seg of this.state.segments) seg.durable = seg.done;
    this.saver.save();
    await this.saver.stop();
    const hashers = outcome.map((r) => (r as PromiseFulfilledResult<FileHasher | undefined>).value);
    return { size: this.state.size!, checksums: await this.checksums(hashers) };
  }

  /** Fetches what is missing of one segment; returns its adler32 hasher (undefined when not asked for). */
  private async fetchSegment(seg: PartSegment, fh: FileHandle): Promise<FileHasher | undefined> {
    const { attempt: a, job } = this.ctx;
    const end = seg.end!;
    const hasher =
      this.adlerOnly.size > 0 ? job.newHasher(a.part.path, this.adlerOnly, seg.start) : undefined;
    // The resumed prefix is hashed in the worker while the request goes out; awaited below.
    const prefix = hasher && seg.done > 0 ? hasher.add(seg.done) : Promise.resolve();
    prefix.catch(() => undefined);
    try {
      const from = seg.start + seg.done;
      if (from < end) await this.fetchRange(seg, fh, from, end, hasher);
      await prefix;
      return hasher;
    } catch (e) {
      this.firstFailure ??= { error: e };
      // Make sure the other segments stop before the state is read by the next attempt.
      this.siblings.abort(new GridError('GRID_ABORTED', 'a sibling segment failed'));
      throw e;
    }
  }

  private async fetchRange(
    seg: PartSegment,
    fh: FileHandle,
    from: number,
    end: number,
    hasher: FileHasher | undefined,
  ): Promise<void> {
    const { attempt: a, job, url, transport } = this.ctx;
    const headers: Record<string, string> = {
      ...(await job.authHeaders(url)),
      Range: `bytes=${from}-${end - 1}`,
    };
    if (this.state.validator !== undefined) headers['If-Range'] = this.state.validator;
    const res = await transport.get(url, headers, this.signal);
    try {
      const validator = responseValidator(res.headers);
      // 200: the whole (other) file; 412: If-Range refused; 416: the file is shorter than this range.
      if (res.statusCode === 200 || res.statusCode === 412 || res.statusCode === 416)
        throw await contentChanged(res, a.where, this.state.validator, validator);
      if (res.statusCode !== 206) throw await unexpectedStatus(res, a.where);
      if (this.state.validator !== undefined && validator !== this.state.validator)
        throw await contentChanged(res, a.where, this.state.validator, validator);
      const expectedBody = await checkPartial(res, a.where, from, this.state.size, end - 1);
      const base = seg.done;
      const received = await pumpResponse(res.body, {
        fh,
        buffers: this.ctx.buffers,
        position: from,
        expected: expectedBody,
        batchBytes: SEGMENT_WRITE_BATCH,
        ...(hasher && { hasher }),
        onData: (n) => a.onData(n),
        onWritten: (written) => {
          seg.done = base + written;
          this.saver.save();
        },
        ...(job.rate && { rate: job.rate }),
        signal: this.signal,
        checkpointBytes: job.options.checkpointBytes ?? CHECKPOINT_BYTES,
        checkpoint: (durable) => {
          seg.durable = base + durable;
          this.saver.save();
          return Promise.resolve();
        },
      });
      if (received < expectedBody) {
        throw new GridError(
          'GRID_CONNECTION_LOST',
          `${a.where}: short segment, ${received} of ${expectedBody} bytes`,
          { retryable: true },
        );
      }
    } finally {
      // A body left unread (a refused response) would hold its connection: close it.
      res.body.destroy();
    }
  }

  /**
   * The error of a failed attempt, once every segment has stopped: the first failure in time (the others
   * are mostly aborted siblings). When the file changed on the server the `.part` and its state are removed, after the last
   * state write, so nothing is left to resume from; otherwise the progress is saved for the next attempt.
   */
  private async failed(errors: unknown[]): Promise<unknown> {
    const changed = errors.find((e) => isGridError(e, 'GRID_CONTENT_CHANGED'));
    if (changed !== undefined) {
      await this.saver.stop();
      await this.ctx.attempt.part.remove();
      return changed;
    }
    this.saver.save();
    await this.saver.stop();
    return this.firstFailure?.error ?? errors[0];
  }

  private async checksums(hashers: ReadonlyArray<FileHasher | undefined>): Promise<Checksums> {
    const a = this.ctx.attempt;
    const checksums: Checksums = {};
    if (this.adlerOnly.size > 0) {
      const adlers = (await Promise.all(hashers.map((h) => h!.digest()))).map((d) => d.adler32!);
      let adler = adlers[0]!;
      for (let i = 1; i < adlers.length; i++) {
        const seg = this.state.segments[i]!;
        adler = adler32Combine(adler, adlers[i]!, seg.end! - seg.start);
      }
      checksums.adler32 = formatAdler32(adler);
    }
    const rest = [...a.algorithms].filter((alg) => alg !== 'adler32');
    if (rest.length > 0) {
      const seq = this.ctx.job.newHasher(a.part.path, new Set(rest));
      await hashExisting(seq, this.state.size!, a.signal);
      Object.assign(checksums, (await seq.digest()).checksums);
    }
    return checksums;
  }
}

/**
 * Saves a segmented download's state after progress, coalescing requests: one write at a time, and one
 * more after it when progress was made meanwhile. Never rejects; a failed write only means a resume
 * would redo more. `stop()` waits for the last write, after which nothing is written again.
 */
class StateSaver {
  private running: Promise<void> | undefined;
  private dirty = false;
  private stopped = false;

  constructor(
    private readonly part: PartFile,
    private readonly state: PartState,
  ) {}

  save(): void {
    if (this.stopped) return;
    if (this.running) {
      this.dirty = true;
      return;
    }
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async loop(): Promise<void> {
    do {
      this.dirty = false;
      await this.part.writeState(this.state).catch(() => undefined);
    } while (this.dirty && !this.stopped);
    this.running = undefined;
  }
}
