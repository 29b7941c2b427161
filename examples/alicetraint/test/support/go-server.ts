import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as it arrived, bytes included, for checks of the wire format. */
export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  /** Raw header names and values, in order, as sent. */
  readonly rawHeaders: readonly string[];
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

/** A stored result, as the Go server's `TrainingTaskResult`. */
interface StoredResult {
  ID: number;
  Name: string;
  Type: number;
  Description: string;
  FileName: string;
  Size: number;
  Data: Buffer;
  TrainingTaskID: number;
}

/** A task in the fake server. */
export interface FakeTask {
  ID: number;
  Status: number;
  TrainingMachineID: number | null;
  AODFiles: unknown;
  Configuration: unknown;
  /** Every status posted, in order. */
  posted: number[];
  results: StoredResult[];
}

/**
 * A loopback HTTP server that behaves as the AliceTraINT Go web interface's machine-facing routes do
 * (reference section 1.9), for tests of the agent: 200 task with a sniffed `text/plain` type, 404 when
 * nothing is queued, 401 for every other task-route failure (`http.Error` bodies with a trailing
 * newline), status values checked only for range (and `{}` marking Failed), multipart results with the
 * base-9 `file-type`, HTML "Page not found" with 200 for unknown GET paths and 405 for other methods.
 * It records every request. Its claim is the original's read-then-update (fine for one agent).
 */
export class FakeGoServer {
  readonly requests: RecordedRequest[] = [];
  readonly tasks: FakeTask[] = [];
  private readonly machines = new Map<number, string>();
  private nextResultId = 1;
  private server: Server | undefined;
  /** When set, answers every request with this status (a server in trouble). */
  failWith: number | undefined;
  /** Result uploads still to answer with `uploadFailure.status` (a proxy in trouble, a refusal). */
  uploadFailure = { remaining: 0, status: 503 };
  /** Status posts still to answer with 503. */
  statusFailures = 0;
  url = '';

  addMachine(id: number, secret: string): void {
    this.machines.set(id, secret);
  }

  addTask(task: { ID: number; AODFiles?: unknown; Configuration?: unknown }): FakeTask {
    const t: FakeTask = {
      ID: task.ID,
      Status: 1,
      TrainingMachineID: null,
      AODFiles: task.AODFiles ?? [],
      Configuration: task.Configuration ?? {},
      posted: [],
      results: [],
    };
    this.tasks.push(t);
    return t;
  }

  task(id: number): FakeTask {
    const t = this.tasks.find((x) => x.ID === id);
    if (!t) throw new Error(`no task ${id}`);
    return t;
  }

  async start(port = 0): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        this.requests.push({
          method: req.method ?? '',
          url: req.url ?? '',
          rawHeaders: req.rawHeaders,
          headers: req.headers,
          body,
        });
        this.handle(req, body, res).catch((error: unknown) => {
          if (!res.headersSent) httpError(res, String(error), 500);
        });
      });
    });
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((done) => this.server!.close(() => done()));
  }

  private async handle(req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void> {
    if (this.failWith !== undefined) return httpError(res, 'trouble', this.failWith);
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    let m = /^\/training-machines\/([^/]+)\/training-task$/.exec(url.pathname);
    if (m && (method === 'GET' || method === 'HEAD')) return this.poll(m[1]!, req, res);
    m = /^\/training-tasks\/([^/]+)\/status$/.exec(url.pathname);
    if (m && method === 'POST' && this.statusFailures > 0) {
      this.statusFailures--;
      return httpError(res, 'status refused by the test', 503);
    }
    if (m && method === 'POST') return this.status(m[1]!, req, body, res);
    m = /^\/training-tasks\/([^/]+)\/training-task-results$/.exec(url.pathname);
    if (m && method === 'POST' && this.uploadFailure.remaining > 0) {
      this.uploadFailure.remaining--;
      return httpError(res, 'upload refused by the test', this.uploadFailure.status);
    }
    if (m && method === 'POST') return this.result(m[1]!, req, url, body, res);
    if (method === 'GET' || method === 'HEAD') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      return void res.end(
        '<!DOCTYPE html><html><head><title>AliceTraINT</title></head><body><h1>Page not found</h1></body></html>',
      );
    }
    return httpError(res, 'Method Not Allowed', 405);
  }

  private poll(idText: string, req: IncomingMessage, res: ServerResponse): void {
    const id = parseUint(idText);
    if (id === undefined)
      return httpError(res, `strconv.ParseUint: parsing "${idText}": invalid syntax`, 401);
    const secret = this.machines.get(id);
    if (secret === undefined || req.headers['secret-id'] !== secret)
      return httpError(res, 'unauthorized', 401);
    const task = this.tasks.find((t) => t.Status === 1);
    if (!task) return httpError(res, 'record not found', 404);
    task.Status = 2;
    task.TrainingMachineID = id;
    // Go's http.ResponseWriter sniffs JSON as text/plain.
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(JSON.stringify({ ID: task.ID, AODFiles: task.AODFiles, Configuration: task.Configuration }));
  }

  private taskFor(idText: string, req: IncomingMessage, res: ServerResponse): FakeTask | undefined {
    const id = parseUint(idText);
    if (id === undefined) {
      httpError(res, `strconv.ParseUint: parsing "${idText}": invalid syntax`, 401);
      return undefined;
    }
    const task = this.tasks.find((t) => t.ID === id);
    if (!task) {
      httpError(res, 'record not found', 401);
      return undefined;
    }
    const secret = task.TrainingMachineID === null ? undefined : this.machines.get(task.TrainingMachineID);
    if (secret === undefined || req.headers['secret-id'] !== secret) {
      httpError(res, 'unauthorized', 401);
      return undefined;
    }
    return task;
  }

  private status(idText: string, req: IncomingMessage, body: Buffer, res: ServerResponse): void {
    const task = this.taskFor(idText, req, res);
    if (!task) return;
    let value: unknown;
    try {
      value = JSON.parse(body.toString('utf8'));
    } catch {
      return httpError(res, 'invalid character', 422);
    }
    let status = 0;
    if (value !== null && typeof value === 'object') {
      const key = Object.keys(value).find((k) => k.toLowerCase() === 'status');
      const v = key === undefined ? null : (value as Record<string, unknown>)[key];
      if (v !== null) {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || /\./.test(body.toString())) {
          return httpError(res, 'json: cannot unmarshal', 422);
        }
        status = v;
      }
    } else if (value !== null) {
      return httpError(res, 'json: cannot unmarshal', 422);
    }
    if (status > 5) return httpError(res, 'invalid status', 422);
    task.Status = status;
    task.posted.push(status);
    res.writeHead(200);
    res.end();
  }

  private async result(
    idText: string,
    req: IncomingMessage,
    url: URL,
    body: Buffer,
    res: ServerResponse,
  ): Promise<void> {
    const task = this.taskFor(idText, req, res);
    if (!task) return;
    let form: FormData;
    try {
      form = await new Request('http://x/', {
        method: 'POST',
        headers: { 'content-type': req.headers['content-type'] ?? '' },
        body,
      }).formData();
    } catch (error) {
      return httpError(res, `multipart: ${String(error)}`, 422);
    }
    const file = form.get('file');
    if (!(file instanceof File) || file.name === '') return httpError(res, 'http: no such file', 422);
    const field = (name: string): string => {
      const q = url.searchParams.get(name);
      if (q !== null) return q;
      const v = form.get(name);
      return typeof v === 'string' ? v : '';
    };
    const typeText = field('file-type');
    const type = typeText === '' ? 0 : Number.parseInt(typeText, 9);
    if (Number.isNaN(type) || !/^[0-8]+$/.test(typeText === '' ? '0' : typeText)) {
      return httpError(res, 'strconv.ParseUint: invalid syntax', 422);
    }
    const data = Buffer.from(await file.arrayBuffer());
    const stored: StoredResult = {
      ID: this.nextResultId++,
      Name: field('name'),
      Type: type,
      Description: field('description'),
      FileName: file.name.split('/').pop() ?? file.name,
      Size: data.length,
      Data: data,
      TrainingTaskID: task.ID,
    };
    task.results.push(stored);
    res.writeHead(201, { 'Content-Type': 'text/plain; charset=utf-8' });
    const { Data: _data, ...record } = stored;
    res.end(JSON.stringify(record));
  }
}

function parseUint(text: string): number | undefined {
  return /^[0-9]+$/.test(text) ? Number(text) : undefined;
}

/** Go's `http.Error`: text/plain, nosniff, the message and a newline. */
function httpError(res: ServerResponse, message: string, status: number): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
  res.end(`${message}\n`);
}
