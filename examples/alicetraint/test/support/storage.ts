import { createReadStream, statSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve, sep } from 'node:path';

/** A loopback storage element serving a folder (GET, HEAD, one Range), counting the body bytes it sent. */
export class CountingStorage {
  bytesSent = 0;
  gets = 0;
  url = '';
  private server: Server | undefined;

  constructor(private readonly root: string) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const path = resolve(this.root, `.${decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)}`);
      if (!path.startsWith(this.root + sep)) return void res.writeHead(403).end();
      const st = statSync(path, { throwIfNoEntry: false });
      if (!st?.isFile()) return void res.writeHead(404).end();
      const headers = { ETag: `"${st.size}-${Math.floor(st.mtimeMs)}"`, 'Accept-Ranges': 'bytes' };
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      let start = 0;
      let end = st.size - 1;
      if (range) {
        start = Number(range[1]);
        end = range[2] ? Math.min(Number(range[2]), end) : end;
        res.writeHead(206, {
          ...headers,
          'Content-Range': `bytes ${start}-${end}/${st.size}`,
          'Content-Length': end - start + 1,
        });
      } else {
        res.writeHead(200, { ...headers, 'Content-Length': st.size });
      }
      if (req.method === 'HEAD' || st.size === 0) return void res.end();
      this.gets++;
      const stream = createReadStream(path, { start, end });
      stream.on('data', (chunk) => (this.bytesSent += chunk.length));
      stream.pipe(res);
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((done) => (this.server ? this.server.close(() => done()) : done()));
  }
}
