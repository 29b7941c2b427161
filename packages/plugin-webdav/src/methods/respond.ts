import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../http/http-error.js';

/** Most bytes of an XML request body (PROPFIND, PROPPATCH, LOCK) read into memory. */
const MAX_XML_BODY = 1024 * 1024;

/**
 * Reads a request body up to `limit` bytes (413 beyond). Chunked bodies are read like any other; a body
 * cut short by the client rejects (the caller's request is over anyway).
 */
export async function readBody(req: IncomingMessage, limit = MAX_XML_BODY): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new HttpError(413, `request body larger than ${limit} bytes`);
  if (req.readableEnded) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, `request body larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** Whether a request declares a body (a length above 0 or chunked). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

const XML_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n';

/** A multistatus body is handed to the socket in pieces of about this many characters. */
const FLUSH_AT = 256 * 1024;

/** Sends an error response: plain text, or an RFC 4918 `DAV:error` body for a precondition. */
export function sendError(res: ServerResponse, error: HttpError, head: boolean): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.statusCode = error.status;
  for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
  let body: string;
  if (error.condition !== undefined) {
    res.setHeader('Content-Type', 'application/xml; charset=utf-8');
    body = `${XML_HEAD}<D:error xmlns:D="DAV:">${error.condition}</D:error>\n`;
  } else if (error.status === 304) {
    body = '';
  } else {
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    body = `${error.message}\n`;
  }
  if (error.status === 304) {
    res.end();
    return;
  }
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(head ? undefined : body);
}

/**
 * Writes a `207 Multi-Status` body piece by piece with back-pressure: responses are added as they are
 * made, so a listing of 10,000 entries never exists in memory as one document.
 */
export class MultistatusWriter {
  private buffer = '';

  constructor(private readonly res: ServerResponse) {
    res.statusCode = 207;
    res.setHeader('Content-Type', 'application/xml; charset=utf-8');
    this.buffer = `${XML_HEAD}<D:multistatus xmlns:D="DAV:">`;
  }

  /** Adds a `<D:response>` (already serialized); waits when the client reads slower than we write. */
  async add(xml: string): Promise<void> {
    this.buffer += xml;
    if (this.buffer.length >= FLUSH_AT) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.buffer.length === 0) return;
    const chunk = this.buffer;
    this.buffer = '';
    if (this.res.destroyed) throw new HttpError(499, 'client went away');
    if (!this.res.write(chunk)) await drained(this.res);
  }

  async end(): Promise<void> {
    this.buffer += '</D:multistatus>\n';
    const chunk = this.buffer;
    this.buffer = '';
    this.res.end(chunk);
    await Promise.resolve();
  }
}

/** `HTTP/1.1 200 OK` status line for a propstat. */
export function statusLine(code: number): string {
  return `HTTP/1.1 ${code} ${STATUS_TEXT[code] ?? ''}`.trimEnd();
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  423: 'Locked',
  424: 'Failed Dependency',
  507: 'Insufficient Storage',
};

/** A request header as one string (the first, when a client repeated it); undefined when absent. */
export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Waits for a response to drain; rejects (499) when the client goes away first. */
export function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      res.off('drain', onDrain);
      res.off('close', onClose);
    };
    const onDrain = (): void => {
      done();
      resolve();
    };
    const onClose = (): void => {
      done();
      reject(new HttpError(499, 'client went away'));
    };
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}
