/**
 * A transfer worker thread: runs whole HTTP attempts (`downloadHttp`: HEAD, GET, response checks, body
 * parsing, batched writes, checkpoints, stall watch) with its own undici Agent and hash worker, so the
 * sockets of a job are read, parsed and written on several cores. The main thread keeps the scheduling
 * (limits, retries, replicas), credentials (answered per request), the bandwidth limit and progress.
 * See `TransferPool` for the other side.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { HashWorkerPool, type FileHasher } from '../checksums/hash-worker.js';
import { GridError } from '../errors/grid-error.js';
import { downloadHttp } from './http-download.js';
import { HttpTransport } from './http-transport.js';
import { deserializeError, serializeError, type FromWorker, type ToWorker, type TransferWorkerData } from './transfer-protocol.js';

const port = parentPort!;
const data = workerData as TransferWorkerData;
const transport = new HttpTransport(data.transport);
const hashPool = new HashWorkerPool();
const attempts = new Map<number, AbortController>();
/** Hashers carried between attempts of a file (a file's attempts all run on the same worker). */
const carried = new Map<string, { hasher?: FileHasher | undefined }>();
const replies = new Map<number, { resolve: (headers: Record<string, string>) => void; reject: (e: Error) => void }>();
let seq = 0;

/** Progress is summed and posted at most every 50 ms per attempt (a message per chunk would cost more than it reports). */
const PROGRESS_MS = 50;
const unreported = new Map<number, number>();
let progressTimer: NodeJS.Timeout | undefined;

const post = (m: FromWorker): void => port.postMessage(m);

function flushProgress(id?: number): void {
  for (const [k, bytes] of unreported) {
    if (id !== undefined && k !== id) continue;
    if (bytes > 0) post({ op: 'data', id: k, bytes });
    unreported.delete(k);
  }
}

function ask(m: { op: 'auth'; id: number } | { op: 'rate'; id: number; bytes: number }, signal?: AbortSignal): Promise<Record<string, string>> {
  const s = seq++;
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      replies.delete(s);
      reject(signal!.reason instanceof Error ? signal!.reason : new GridError('GRID_ABORTED', 'aborted'));
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    replies.set(s, {
      resolve: (h) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(h);
      },
      reject: (e) => {
        signal?.removeEventListener('abort', onAbort);
        reject(e);
      },
    });
    post({ ...m, seq: s });
  });
}

async function start(id: number, request: Extract<ToWorker, { op: 'start' }>['request']): Promise<void> {
  const ctl = new AbortController();
  attempts.set(id, ctl);
  let carry = carried.get(request.dest);
  if (!carry) carried.set(request.dest, (carry = {}));
  try {
    const result = await downloadHttp({
      transport,
      url: request.url,
      dest: request.dest,
      size: request.size,
      expected: request.expected,
      algorithms: new Set(request.algorithms),
      segments: request.segments,
      segmentMinSize: request.segmentMinSize,
      authHeaders: () => ask({ op: 'auth', id }),
      signal: ctl.signal,
      onData: (n) => {
        unreported.set(id, (unreported.get(id) ?? 0) + n);
        progressTimer ??= setInterval(() => flushProgress(), PROGRESS_MS);
      },
      onResume: (offset, note) => {
        unreported.delete(id);
        post({ op: 'resume', id, offset, note });
      },
      onLog: (text) => post({ op: 'log', id, text }),
      rate: request.rateLimited ? { take: async (bytes, signal) => void (await ask({ op: 'rate', id, bytes }, signal)) } : undefined,
      stall: request.stall,
      checkpointBytes: request.checkpointBytes,
      newHasher: hashPool.create,
      carry,
    });
    flushProgress(id);
    post({ op: 'done', id, result });
  } catch (e) {
    flushProgress(id);
    post({ op: 'failed', id, error: serializeError(e) });
  } finally {
    attempts.delete(id);
    if (attempts.size === 0 && progressTimer) {
      clearInterval(progressTimer);
      progressTimer = undefined;
    }
  }
}

port.on('message', (m: ToWorker) => {
  switch (m.op) {
    case 'start':
      void start(m.id, m.request);
      break;
    case 'abort':
      attempts.get(m.id)?.abort(new GridError('GRID_ABORTED', 'download aborted; the .part file is kept for resume'));
      break;
    case 'forget':
      carried.delete(m.dest);
      break;
    case 'reply': {
      const r = replies.get(m.seq);
      replies.delete(m.seq);
      if (m.error) r?.reject(deserializeError(m.error));
      else r?.resolve(m.headers ?? {});
      break;
    }
    case 'close':
      void (async () => {
        for (const ctl of attempts.values()) ctl.abort(new GridError('GRID_ABORTED', 'transfer worker closed'));
        await (m.destroy ? transport.destroy() : transport.close()).catch(() => undefined);
        await hashPool.close();
        post({ op: 'closed' });
        port.close();
      })();
      break;
  }
});
