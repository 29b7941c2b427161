import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** How a {@link startFileServer} misbehaves; fields may be changed while it runs. */
export interface ServerBehaviour {
  /** Answer a Range request with 206 from the current file whatever `If-Range` says. */
  ignoreIfRange?: boolean;
  /** Send neither ETag nor Last-Modified. */
  noValidators?: boolean;
  /** Answer every request with this status and an empty body (404, 403, 503...). */
  status?: number;
  /** Answer GETs with a Range header with this status (412), for the paths matched. */
  rangeStatus?: { status: number; when?: (range: { start: number; end: number }) => boolean };
  /** Accept HEAD requests and never answer them. */
  stallHead?: boolean;
  /** Send a GET's headers, then no body byte. */
  stallBody?: boolean;
  /** Body bytes per second per response (paced writes of 64 KiB). */
  rate?: number;
  /** Destroy each response after this many body bytes (a connection cut). */
  cutAfter?: number;
}

/** A served file: its bytes and its version's validators. */
interface ServedFile {
  data: Buffer;
  etag: string;
  lastModified: string;
}

export interface FileServer {
  readonly port: number;
  readonly behaviour: ServerBehaviour;
  /** Body bytes written to sockets so far (all responses). */
  readonly stats: {
    bytesServed: number;
    requests: Array<{ method: string; path: string; range?: string; ifRange?: string }>;
  };
  url(name: string): string;
  /** Serves `data` under `name` as a new version (new ETag and Last-Modified). */
  setFile(name: string, data: Buffer): void;
  close(): Promise<void>;
}

const MiB = 1024 * 1024;

/**
 * An HTTP file server on 127.0.0.1 written for tests: Range (single ranges), If-Range against a strong
 * ETag or Last-Modified, versions that change on `setFile`, and the ways real servers misbehave
 * ({@link ServerBehaviour}). It counts the body bytes it sends.
 */
export async function startFileServer(behaviour: ServerBehaviour = {}): Promise<FileServer> {
  const files = new Map<string, ServedFile>();
  const stats: FileServer['stats'] = { bytesServed: 0, requests: [] };
  const sockets = new Set<Socket>();
  let version = 0;

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!.slice(1));
    const range = req.headers.range;
    const ifRange = req.headers['if-range'] as string | undefined;
    stats.requests.push({
      method: req.method ?? '',
      path,
      ...(range !== undefined && { range }),
      ...(ifRange !== undefined && { ifRange }),
    });
    if (behaviour.status !== undefined)
      return void res.writeHead(behaviour.status, { 'Content-Length': 0 }).end();
    if (req.method === 'HEAD' && behaviour.stallHead) return;
    const file = files.get(path);
    if (!file) return void res.writeHead(404, { 'Content-Length': 0 }).end();
    const size = file.data.length;
    const validators = behaviour.noValidators ? {} : { ETag: file.etag, 'Last-Modified': file.lastModified };
    const base = { ...validators, 'Accept-Ranges': 'bytes' };
    const m = /^bytes=(\d+)-(\d*)$/.exec(range ?? '');
    const sameVersion = ifRange === undefined || ifRange === file.etag || ifRange === file.lastModified;
    if (m && (sameVersion || behaviour.ignoreIfRange)) {
      const start = Number(m[1]);
      const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
      if (behaviour.rangeStatus && (behaviour.rangeStatus.when?.({ start, end }) ?? true)) {
        return void res.writeHead(behaviour.rangeStatus.status, { ...base, 'Content-Length': 0 }).end();
      }
      if (start >= size)
        return void res
          .writeHead(416, { ...base, 'Content-Range': `bytes */${size}`, 'Content-Length': 0 })
          .end();
      res.writeHead(206, {
        ...base,
        'Content-Range': `bytes ${start}-${end}/${size}`,
        'Content-Length': end - start + 1,
      });
      if (req.method === 'HEAD') return void res.end();
      return void send(res, file.data.subarray(start, end + 1));
    }
    res.writeHead(200, { ...base, 'Content-Length': size });
    if (req.method === 'HEAD') return void res.end();
    send(res, file.data);
  };

  /** Writes a body, paced and cut as the behaviour says, counting the bytes. */
  const send = (res: ServerResponse, body: Buffer) => {
    if (behaviour.stallBody) return void res.flushHeaders();
    const chunk = 64 * 1024;
    const limit = behaviour.cutAfter ?? Number.POSITIVE_INFINITY;
    let off = 0;
    let closed = false;
    res.once('close', () => (closed = true));
    const next = () => {
      if (closed) return;
      if (off >= body.length) return void res.end();
      const piece = body.subarray(off, Math.min(body.length, off + chunk, limit));
      off += piece.length;
      stats.bytesServed += piece.length;
      // A cut: the bytes so far reach the client (flushed to the kernel), then the connection drops.
      if (off >= limit && off < body.length) return void res.write(piece, () => res.socket?.destroy());
      const ok = res.write(piece);
      // The rate is read per chunk, so a test can slow a response down and speed it up again.
      const pace = behaviour.rate ? (chunk / behaviour.rate) * 1000 : 0;
      if (pace > 0) setTimeout(next, pace);
      else if (ok) setImmediate(next);
      else res.once('drain', next);
    };
    next();
  };

  const server = createServer(handle);
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    behaviour,
    stats,
    url: (name) => `http://127.0.0.1:${port}/${encodeURIComponent(name)}`,
    setFile: (name, data) => {
      version++;
      // Distinct seconds, so Last-Modified changes with every version too.
      files.set(name, {
        data,
        etag: `"v${version}-${data.length}"`,
        lastModified: new Date(Date.UTC(2024, 0, 1) + version * 1000).toUTCString(),
      });
    },
    close: () =>
      new Promise<void>((ok) => {
        for (const s of sockets) s.destroy();
        server.close(() => ok());
      }),
  };
}

export { MiB };
