import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve, sep } from 'node:path';

/** A running loopback file server. */
export interface ServedDirectory {
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** URL of a file relative to the directory. */
  fileUrl(relativePath: string): string;
  close(): Promise<void>;
}

/**
 * Serves a directory over HTTP on 127.0.0.1 with `Range` support (single ranges), ETag and
 * Last-Modified: enough for `grid.download` demos and tests without a real storage element.
 *
 * @example
 * ```ts
 * const server = await serveDirectory('./data');
 * // grid.download with: { files: [{ url: server.fileUrl('AO2D.root') }], dest: 'raw' }
 * await server.close();
 * ```
 */
export async function serveDirectory(dir: string, options: { port?: number } = {}): Promise<ServedDirectory> {
  const root = resolve(dir);
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = resolve(root, `.${decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/')}`);
      if (path !== root && !path.startsWith(root + sep)) return void res.writeHead(403).end();
      const st = await stat(path).catch(() => undefined);
      if (!st?.isFile()) return void res.writeHead(404).end();
      const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
      const base = { ETag: etag, 'Last-Modified': st.mtime.toUTCString(), 'Accept-Ranges': 'bytes' };
      const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
      const ifRange = req.headers['if-range'];
      if (range && (ifRange === undefined || ifRange === etag || ifRange === base['Last-Modified'])) {
        const start = range[1] === '' ? Math.max(0, st.size - Number(range[2])) : Number(range[1]);
        const end =
          range[1] === '' || range[2] === '' ? st.size - 1 : Math.min(Number(range[2]), st.size - 1);
        if (start >= st.size || start > end) {
          return void res.writeHead(416, { ...base, 'Content-Range': `bytes */${st.size}` }).end();
        }
        res.writeHead(206, {
          ...base,
          'Content-Range': `bytes ${start}-${end}/${st.size}`,
          'Content-Length': end - start + 1,
        });
        if (req.method === 'HEAD') return void res.end();
        return void createReadStream(path, { start, end, highWaterMark: 1024 * 1024 }).pipe(res);
      }
      res.writeHead(200, { ...base, 'Content-Length': st.size });
      if (req.method === 'HEAD') return void res.end();
      createReadStream(path, { highWaterMark: 1024 * 1024 }).pipe(res);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, '127.0.0.1', () => ok());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    fileUrl: (p) => `${url}/${p.split('/').map(encodeURIComponent).join('/')}`,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
