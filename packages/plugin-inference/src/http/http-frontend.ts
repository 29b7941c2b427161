import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { InferenceError, invalid, isInferenceError } from '../errors/inference-error.js';
import { RequestCancel } from '../runtime/cancel-signal.js';
import type { InferenceCore } from '../server/inference-core.js';
import { decodeInfer, encodeInfer, headerLength } from './infer-codec.js';
import { listenHttp } from '../server/listen.js';

/** Options of the HTTP frontend. */
export interface HttpFrontendOptions {
  /** Largest request body; default 64 MiB (Triton's `--http-max-input-size`). */
  maxInputSize?: number;
}

const MODEL_ROUTE = /^\/v2\/models\/([^/]+)(?:\/versions\/([0-9]+))?(?:\/(infer|ready|config|stats))?$/;
const REPOSITORY_ROUTE = /^\/v2\/repository\/models\/([^/]+)\/(load|unload)$/;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const notFound = (): HttpError => new HttpError(404, 'Not Found');

function onlyMethod(method: string, verb: string): void {
  if (method !== verb) throw new HttpError(405, 'Method Not Allowed');
}

function decodeName(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw invalid(`malformed percent-encoding in "${segment.slice(0, 60)}"`);
  }
}

/**
 * The Open Inference Protocol over HTTP/1.1 (`node:http`, keep-alive), with Triton's binary tensor,
 * model configuration, statistics and repository extensions, status codes and `{"error"}` bodies.
 */
export class HttpFrontend {
  private readonly server: Server;
  private readonly maxInputSize: number;
  /** Requests whose body was not read to the end: their connection closes after the answer. */
  private readonly unread = new WeakSet<IncomingMessage>();
  /** Request bodies read into buffers of their own: their binary inputs are moved to the worker, not copied. */
  private readonly ownBodies = new WeakSet<ArrayBufferLike>();

  constructor(
    private readonly core: InferenceCore,
    options: HttpFrontendOptions = {},
  ) {
    this.maxInputSize = options.maxInputSize ?? 64 * 1024 * 1024;
    this.server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => void this.handle(req, res));
    this.server.on('clientError', (_error, socket) => {
      if (socket.writable)
        socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  /** Listens; resolves with the bound URL. */
  async listen(host: string, port: number): Promise<string> {
    return listenHttp(this.server, host, port);
  }

  /** Stops accepting connections and closes idle ones; in-flight requests finish. */
  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    await closed;
  }

  /** Closes every connection, busy or not (after draining). */
  closeAll(): void {
    this.server.closeAllConnections();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await this.route(req, res);
    } catch (error) {
      this.fail(req, res, error);
    }
  }

  private fail(req: IncomingMessage, res: ServerResponse, error: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    let status = 500;
    let message = 'internal error';
    if (error instanceof HttpError) {
      status = error.status;
      message = error.message;
    } else if (isInferenceError(error)) {
      status = error.httpStatus;
      message = error.message;
    } else if (error instanceof Error) message = `internal error: ${error.message}`;
    const body = JSON.stringify({ error: message || 'error' });
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(body),
    };
    if (status === 503) headers['Retry-After'] = 1;
    if (this.unread.has(req)) headers.Connection = 'close';
    res.writeHead(status, headers);
    res.end(body);
  }

  private json(res: ServerResponse, value: unknown): void {
    const body = JSON.stringify(value);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }

  private empty(res: ServerResponse, status: number): void {
    res.writeHead(status, { 'Content-Length': 0 });
    res.end();
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query >= 0 ? url.slice(0, query) : url;
    const method = req.method ?? 'GET';
    const core = this.core;

    if (path === '/v2/health/live') {
      onlyMethod(method, 'GET');
      await this.discard(req);
      return this.empty(res, core.live ? 200 : 400);
    }
    if (path === '/v2/health/ready') {
      onlyMethod(method, 'GET');
      await this.discard(req);
      return this.empty(res, core.ready ? 200 : 400);
    }
    if (path === '/v2') {
      onlyMethod(method, 'GET');
      await this.discard(req);
      return this.json(res, core.serverMetadata());
    }
    if (path === '/v2/models/stats') {
      onlyMethod(method, 'GET');
      await this.discard(req);
      return this.json(res, { model_stats: core.statistics() });
    }
    if (path === '/v2/repository/index') {
      onlyMethod(method, 'POST');
      const body = await this.readJsonBody(req);
      const ready = body.ready;
      if (ready !== undefined && typeof ready !== 'boolean') throw invalid('"ready" must be true or false');
      return this.json(res, await core.repositoryIndex(ready === true));
    }
    const repository = REPOSITORY_ROUTE.exec(path);
    if (repository) {
      onlyMethod(method, 'POST');
      const name = decodeName(repository[1]!);
      const body = await this.readJsonBody(req);
      if (repository[2] === 'load') await core.loadModel(name, body.parameters);
      else await core.unloadModel(name, body.parameters);
      return this.json(res, {});
    }
    const model = MODEL_ROUTE.exec(path);
    if (!model) throw notFound();
    const name = decodeName(model[1]!);
    const version = model[2];
    const action = model[3];
    switch (action) {
      case undefined:
        onlyMethod(method, 'GET');
        await this.discard(req);
        return this.json(res, core.modelMetadata(name, version));
      case 'ready':
        onlyMethod(method, 'GET');
        await this.discard(req);
        core.resolve(name, version);
        return this.empty(res, 200);
      case 'config':
        onlyMethod(method, 'GET');
        await this.discard(req);
        return this.json(res, core.resolve(name, version).config);
      case 'stats':
        onlyMethod(method, 'GET');
        await this.discard(req);
        return this.json(res, { model_stats: core.statistics(name, version) });
      case 'infer':
        onlyMethod(method, 'POST');
        return this.infer(req, res, name, version);
      default:
        throw notFound();
    }
  }

  private async infer(
    req: IncomingMessage,
    res: ServerResponse,
    name: string,
    version: string | undefined,
  ): Promise<void> {
    const target = this.core.resolve(name, version);
    const jsonLength = header(req, 'inference-header-content-length');
    const body = await this.readBody(req, Number(jsonLength) || 0);
    const decoded = decodeInfer(
      body,
      headerLength(jsonLength, body.length),
      target.config,
      this.ownBodies.has(body.buffer),
    );
    const cancel = new RequestCancel();
    const onClose = (): void => {
      if (!res.writableFinished) cancel.cancel();
    };
    res.on('close', onClose);
    try {
      decoded.request.signal = cancel;
      const result = await target.infer(decoded.request);
      if (cancel.aborted) return;
      const encoded = encodeInfer(target, decoded.id, result, decoded);
      if (encoded.blobs.length === 0) {
        res.writeHead(200, {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(encoded.json),
        });
        res.end(encoded.json);
        return;
      }
      const headLength = Buffer.byteLength(encoded.json);
      let total = headLength;
      for (const blob of encoded.blobs) total += blob.length;
      res.writeHead(200, {
        'Content-Type': 'application/octet-stream',
        'Inference-Header-Content-Length': headLength,
        'Content-Length': total,
      });
      if (total <= SMALL_REPLY) {
        // one buffer (from Node's pool when small): the status line, headers and body leave in one write
        const reply = Buffer.allocUnsafe(total);
        let at = reply.write(encoded.json, 'utf8');
        for (const blob of encoded.blobs) {
          reply.set(blob, at);
          at += blob.length;
        }
        res.end(reply);
        return;
      }
      // corked: the head and every output leave in one writev, without copying the outputs
      res.cork();
      res.write(Buffer.from(encoded.json, 'utf8'));
      for (let i = 0; i < encoded.blobs.length - 1; i += 1) res.write(encoded.blobs[i]);
      res.end(encoded.blobs[encoded.blobs.length - 1]);
    } finally {
      res.off('close', onClose);
    }
  }

  /**
   * Reads a body whole. With a Content-Length, a body that arrives in several chunks is copied into one
   * buffer of that length (no concatenation at the end), placed so that the binary section after
   * `alignAt` bytes (the JSON head of a binary request) starts 8-byte aligned.
   */
  private readBody(req: IncomingMessage, alignAt = 0): Promise<Buffer> {
    const header = req.headers['content-length'];
    const declared = header === undefined ? undefined : Number(header);
    if (declared !== undefined && declared > this.maxInputSize) {
      req.resume();
      return Promise.reject(this.tooLarge(req));
    }
    return new Promise<Buffer>((resolve, reject) => {
      let chunks: Buffer[] | undefined;
      let body: Buffer | undefined;
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        if (size + chunk.length > (declared ?? this.maxInputSize)) {
          req.removeAllListeners('data');
          req.resume();
          reject(
            declared ? invalid('the request body is longer than its Content-Length') : this.tooLarge(req),
          );
          return;
        }
        // The whole body's buffer is allocated once a quarter of it has come (so a client that
        // declares 64 MiB and sends little makes the server hold at most 4x what it sent); the chunks
        // so far are copied into it, each byte still copied once.
        if (
          !body &&
          declared !== undefined &&
          chunk.length < declared &&
          (size + chunk.length) * 4 >= declared
        ) {
          const pad = (8 - (alignAt % 8)) % 8;
          body = Buffer.from(new ArrayBuffer(declared + pad), pad, declared);
          this.ownBodies.add(body.buffer);
          let at = 0;
          for (const earlier of chunks ?? []) at += earlier.copy(body, at);
          chunks = undefined;
        }
        if (body) chunk.copy(body, size);
        else (chunks ??= []).push(chunk);
        size += chunk.length;
      });
      // on, not once: the promise settles once anyway, and once() costs a wrapper per listener
      req.on('end', () => {
        if (body) resolve(body.subarray(0, size));
        else if (!chunks) resolve(Buffer.alloc(0));
        else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
      });
      req.on('error', reject);
      req.on('aborted', () =>
        reject(new InferenceError('INFERENCE_CANCELLED', 'the client closed the connection')),
      );
    });
  }

  private tooLarge(req: IncomingMessage): InferenceError {
    this.unread.add(req);
    return invalid(`the request body exceeds the maximum input size of ${this.maxInputSize} bytes`);
  }

  private async readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
    const body = await this.readBody(req);
    if (body.length === 0) return {};
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch (error) {
      throw invalid(`failed to parse the request JSON: ${(error as Error).message}`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json))
      throw invalid('the request body must be a JSON object');
    return json as Record<string, unknown>;
  }

  private async discard(req: IncomingMessage): Promise<void> {
    if (req.readableEnded) return;
    await this.readBody(req);
  }
}

/** Binary replies up to this size are copied into one buffer and sent with one write. */
const SMALL_REPLY = 64 * 1024;

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
