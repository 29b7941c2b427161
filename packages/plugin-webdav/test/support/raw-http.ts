import { connect } from 'node:net';

/** A response read off a raw socket. */
export interface RawResponse {
  readonly status: number;
  /** Lower-case header names; repeated headers joined with `, ` (except `www-authenticate`, kept as a list). */
  readonly headers: Readonly<Record<string, string>>;
  readonly challenges: readonly string[];
  readonly body: Buffer;
  readonly text: string;
}

/**
 * Sends bytes exactly as given over a fresh connection (no client normalises the path, adds headers or
 * refuses odd input) and reads one response (`Connection: close` is expected: the body runs to the
 * end of the connection or to `Content-Length`). Rejects when nothing comes back within `timeoutMs`.
 */
export function rawRequest(url: string, request: string | Buffer, timeoutMs = 15_000): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no response within ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = (): void => {
      clearTimeout(timer);
      const data = Buffer.concat(chunks);
      const end = data.indexOf('\r\n\r\n');
      if (end === -1) {
        reject(new Error(`incomplete response: ${JSON.stringify(data.toString('latin1').slice(0, 200))}`));
        return;
      }
      const head = data.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '')?.[1]);
      const headers: Record<string, string> = {};
      const challenges: string[] = [];
      for (const line of head.slice(1)) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        if (name === 'www-authenticate') challenges.push(value);
        headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
      }
      let body = data.subarray(end + 4);
      const length = headers['content-length'];
      if (length !== undefined) body = body.subarray(0, Number(length));
      resolve({ status, headers, challenges, body, text: body.toString('utf8') });
    };
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      // Stop at the end of a Content-Length body (keep-alive servers would not close).
      const data = Buffer.concat(chunks);
      const end = data.indexOf('\r\n\r\n');
      if (end !== -1) {
        const match = /\r\ncontent-length:\s*(\d+)/i.exec(data.subarray(0, end).toString('latin1'));
        if (match && data.length >= end + 4 + Number(match[1])) socket.end();
      }
    });
    socket.on('end', finish);
    socket.on('close', () => {
      if (chunks.length > 0) finish();
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.write(request);
  });
}

/** `GET <path> HTTP/1.1` with a Host header and `Connection: close`, plus extra header lines. */
export function requestText(
  method: string,
  target: string,
  headers: readonly string[] = [],
  body = '',
): string {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...headers];
  if (body !== '' || ['PUT', 'PROPFIND', 'PROPPATCH', 'LOCK'].includes(method))
    lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}
