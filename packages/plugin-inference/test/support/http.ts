import type { Agent } from 'node:http';
import { request, type IncomingHttpHeaders } from 'node:http';

/** A raw HTTP reply. */
export interface RawReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The body as JSON (undefined when it is not). */
  json: unknown;
  /** Local port of the socket that carried the request (to see keep-alive reuse). */
  localPort: number | undefined;
}

/** Sends one request exactly as given (no client-side checks), for hostile and conformance tests. */
export function raw(
  base: string,
  method: string,
  path: string,
  body?: string | Buffer | Uint8Array[],
  headers: Record<string, string | number> = {},
  agent?: Agent,
): Promise<RawReply> {
  const url = new URL(base);
  const chunks =
    body === undefined
      ? []
      : typeof body === 'string'
        ? [Buffer.from(body)]
        : Buffer.isBuffer(body)
          ? [body]
          : body;
  const length = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        agent: agent ?? false,
        headers: 'Transfer-Encoding' in headers ? headers : { 'Content-Length': length, ...headers },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (chunk: Buffer) => parts.push(chunk));
        res.on('end', () => {
          const buffer = Buffer.concat(parts);
          let json: unknown;
          try {
            json = JSON.parse(buffer.toString('utf8'));
          } catch {
            json = undefined;
          }
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: buffer,
            json,
            localPort: req.socket?.localPort,
          });
        });
      },
    );
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

/** Builds a binary-extension body: the JSON head, then the blobs. */
export function binaryBody(
  head: unknown,
  blobs: Uint8Array[],
): { body: Uint8Array[]; headers: Record<string, number | string> } {
  const json = Buffer.from(JSON.stringify(head));
  return {
    body: [json, ...blobs],
    headers: { 'Inference-Header-Content-Length': json.length, 'Content-Type': 'application/octet-stream' },
  };
}

/** The little-endian bytes of a typed array. */
export function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}
