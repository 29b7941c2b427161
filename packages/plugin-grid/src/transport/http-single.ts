import type { FileHandle } from 'node:fs/promises';
import type { Checksums } from '../checksums/checksum-format.js';
import type { FileHasher } from '../checksums/hash-worker.js';
import { GridError } from '../errors/grid-error.js';
import { resumableBytes, type PartState } from '../files/part-file.js';
import { pumpResponse } from './body-writer.js';
import type { HttpAttemptContext } from './http-driver.js';
import type { HttpResponse } from './http1/client.js';
import {
  checkPartial,
  contentChanged,
  responseValidator,
  unexpectedStatus,
  unsatisfiedRangeTotal,
} from './http-response.js';

/** fsync + state update every this many bytes, by default. */
const CHECKPOINT_BYTES = 64 * 1024 * 1024;

/**
 * One GET into the `.part`, continuing a resumable `.part` with `Range` and `If-Range` (the stored
 * validator). The response must prove it carries the same file version: a 206 with another validator
 * discards the `.part` (`GRID_CONTENT_CHANGED`, the retry starts from zero), a 200 restarts at byte 0
 * with the new file. No file is created before a response is accepted, so a refusal leaves nothing.
 */
export async function downloadSingle(
  ctx: HttpAttemptContext,
  resumed: PartState | undefined,
): Promise<{ size: number; checksums: Checksums }> {
  return new SingleStreamDownload(ctx, resumed).run();
}

class SingleStreamDownload {
  /** Where the body goes; the `.part`'s trusted bytes when resuming. */
  private offset = 0;
  private hasher: FileHasher | undefined;
  /** The re-hash of a resumed prefix, running in the hash worker while the request goes out. */
  private prefixHashed: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: HttpAttemptContext,
    private state: PartState | undefined,
  ) {}

  async run(): Promise<{ size: number; checksums: Checksums }> {
    const a = this.ctx.attempt;
    if (this.state) await this.startFromPart(this.state);
    const complete = this.state !== undefined && this.offset > 0 && this.offset === this.ctx.size;
    const res = complete
      ? undefined
      : await this.ctx.transport.get(this.ctx.url, await this.requestHeaders(), a.signal);
    try {
      const expectedBody = res ? await this.accept(res) : 'complete';
      const fh = await a.part.open(this.offset === 0);
      try {
        const received = res && expectedBody !== 'complete' ? await this.pump(res, fh, expectedBody) : 0;
        return await this.finish(fh, received);
      } finally {
        await fh.close();
      }
    } finally {
      // A body left unread (a failure before the pump) would hold its connection: close it.
      res?.body.destroy();
    }
  }

  /**
   * Continues the `.part` at its trusted length (see `resumableBytes`), cutting anything beyond, and
   * rebuilds the hash of that prefix unless the previous attempt's hasher already covers it.
   */
  private async startFromPart(state: PartState): Promise<void> {
    const a = this.ctx.attempt;
    const have = (await a.part.size()) ?? 0;
    this.offset = Math.min(resumableBytes(state, have), this.ctx.size ?? Number.POSITIVE_INFINITY);
    if (have > this.offset) {
      const fh = await a.part.open(false);
      await fh.truncate(this.offset).finally(() => fh.close());
    }
    const carried = a.part.hasher;
    if (carried && carried.start === 0 && carried.length === this.offset) {
      this.hasher = carried;
      if (this.offset > 0)
        a.onResume(this.offset, `resuming ${a.where} at byte ${this.offset} of ${this.ctx.size ?? '?'}`);
      return;
    }
    this.hasher = this.newHasher();
    if (this.offset > 0) {
      this.prefixHashed = this.hasher.add(this.offset);
      // Owned: awaited in finish(), or dropped with the hasher when the download restarts at 0.
      this.prefixHashed.catch(() => undefined);
      a.onResume(
        this.offset,
        `resuming ${a.where} at byte ${this.offset} of ${this.ctx.size ?? '?'} (re-hashing the .part prefix)`,
      );
    }
  }

  private async requestHeaders(): Promise<Record<string, string>> {
    const headers: Record<string, string> = { ...(await this.ctx.job.authHeaders(this.ctx.url)) };
    if (this.offset > 0) {
      // Closed range when the size is known: old XrdHttp answers `bytes=N-` with an empty 206.
      headers.Range = `bytes=${this.offset}-${this.ctx.size !== undefined ? this.ctx.size - 1 : ''}`;
      if (this.state?.validator !== undefined) headers['If-Range'] = this.state.validator;
    }
    return headers;
  }

  /**
   * Checks the response against the request and the `.part`, records the accepted file version in the
   * state (before any body byte is written), and returns the body length to expect.
   */
  private async accept(res: HttpResponse): Promise<number | undefined | 'complete'> {
    const { attempt: a, size } = this.ctx;
    const validator = responseValidator(res.headers);
    let expectedBody: number | undefined;
    if (res.statusCode === 200) {
      if (this.offset > 0) {
        a.onLog(`${a.where} answered the Range request with the whole file: restarting from byte 0`);
        a.onResume(0, 'restart');
      }
      this.offset = 0;
      this.prefixHashed = Promise.resolve();
      this.hasher = a.part.hasher = this.newHasher();
      const len = res.contentLength;
      if (size !== undefined && len !== undefined && len !== size) {
        await res.body.dump();
        throw new GridError('GRID_SIZE_MISMATCH', `${a.where}: Content-Length ${len}, expected ${size}`, {
          retryable: true,
        });
      }
      expectedBody = len ?? size;
      this.state = newState(a.where, expectedBody, validator, a.expected);
    } else if (res.statusCode === 206 && this.offset > 0 && this.state) {
      if (this.state.validator !== undefined && validator !== this.state.validator) {
        const err = await contentChanged(res, a.where, this.state.validator, validator);
        await a.part.remove();
        throw err;
      }
      expectedBody = await checkPartial(res, a.where, this.offset, size);
      this.state = { ...this.state, url: a.where, validator: validator ?? this.state.validator };
    } else if (res.statusCode === 416 && this.offset > 0) {
      // Nothing left to send: complete when the .part has the whole file (and the server agrees on its
      // length); else the server's file is shorter than the .part, another version: start over.
      const total = unsatisfiedRangeTotal(res.headers);
      if (size !== undefined && this.offset === size && (total === undefined || total === size)) {
        await res.body.dump();
        return 'complete';
      }
      const err = await contentChanged(res, a.where, this.state?.validator, validator);
      await a.part.remove();
      throw err;
    } else {
      throw await unexpectedStatus(res, a.where);
    }
    await a.part.writeState(this.state);
    a.part.hasher = this.hasher;
    return expectedBody;
  }

  private async pump(res: HttpResponse, fh: FileHandle, expectedBody: number | undefined): Promise<number> {
    const { attempt: a, job } = this.ctx;
    const state = this.state!;
    const seg = state.segments[0]!;
    const received = await pumpResponse(res.body, {
      fh,
      buffers: this.ctx.buffers,
      position: this.offset,
      ...(expectedBody !== undefined && { expected: expectedBody }),
      hasher: this.hasher!,
      onData: (n) => a.onData(n),
      ...(job.rate && { rate: job.rate }),
      signal: a.signal,
      checkpointBytes: job.options.checkpointBytes ?? CHECKPOINT_BYTES,
      checkpoint: async (durable) => {
        seg.done = seg.durable = this.offset + durable;
        await a.part.writeState(state);
      },
    });
    if (expectedBody !== undefined && received < expectedBody) {
      throw new GridError(
        'GRID_CONNECTION_LOST',
        `${a.where}: short body, ${received} of ${expectedBody} bytes`,
        { retryable: true },
      );
    }
    return received;
  }

  private async finish(fh: FileHandle, received: number): Promise<{ size: number; checksums: Checksums }> {
    const size = this.offset + received;
    const seg = this.state!.segments[0]!;
    seg.done = size;
    await fh.datasync();
    seg.durable = size;
    await this.prefixHashed;
    return { size, checksums: (await this.hasher!.digest()).checksums };
  }

  private newHasher(): FileHasher {
    const a = this.ctx.attempt;
    return this.ctx.job.newHasher(a.part.path, a.algorithms);
  }
}

/** The state of a `.part` that starts now, holding the file version `validator` names. */
function newState(
  where: string,
  size: number | undefined,
  validator: string | undefined,
  expected: Checksums,
): PartState {
  return {
    version: 2,
    url: where,
    size,
    validator,
    expected,
    bootId: undefined,
    segments: [{ start: 0, end: size, done: 0, durable: 0 }],
  };
}
