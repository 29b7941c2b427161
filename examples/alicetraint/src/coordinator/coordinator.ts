import { formatBytes } from '@beamline/core';
import { aliceAodFileSchema } from '@beamline/plugin-grid';
import { once } from 'node:events';
import { createReadStream, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';
import { z } from 'zod';
import { TaskStatus } from '../client/wire.js';
import { AliceError } from '../errors/alice-error.js';
import type { CoordinatorStore } from './coordinator-store.js';
import { PostgresCoordinatorStore } from './postgres-coordinator-store.js';
import { SqliteCoordinatorStore, type ResultRow, type TaskRow } from './sqlite-coordinator-store.js';
import {
  DEFAULT_ARGON2,
  hashSecret,
  newSecret,
  sameToken,
  SecretVerifier,
  type Argon2Cost,
} from './secrets.js';
import { statusName } from './transitions.js';

/** Options of {@link Coordinator}. */
export interface CoordinatorOptions {
  /** Folder of the stored result files (`results/`) and of the SQLite database (`coordinator.db`). */
  readonly dir: string;
  /** Keep the state in PostgreSQL at this URL instead of SQLite. */
  readonly postgresUrl?: string;
  /** The PostgreSQL schema (default `alicetraint`). */
  readonly postgresSchema?: string;
  /** How long a claim lives without a call of its machine (default 10 min). */
  readonly leaseMs?: number;
  /** How often expired leases are settled besides at every poll (default a quarter of the lease). */
  readonly sweepMs?: number;
  /** Times a task is handed out before a silent machine fails it instead of requeueing (default 3). */
  readonly maxClaims?: number;
  /** Largest result file (default 256 MiB; a request is read whole before it is parsed); a larger one is refused with 413. */
  readonly maxResultBytes?: number;
  /** Bearer token of the people-facing `/api` routes; without it they answer only on loopback. */
  readonly adminToken?: string;
  /** Argon2id cost of machine secrets (default the web interface's: 64 MiB, 2 lanes). */
  readonly argon2?: Argon2Cost;
}

/** A task and its results as the JSON listing shows them. */
export interface TaskView {
  readonly ID: number;
  readonly Name: string;
  readonly Status: number;
  readonly StatusName: string;
  readonly TrainingMachineID: number | null;
  readonly Claims: number;
  readonly LeaseExpiresAt: string | null;
  readonly Reason: string | null;
  readonly AODFiles: unknown;
  readonly Configuration: unknown;
  readonly Results: readonly ResultView[];
}

interface ResultView {
  readonly ID: number;
  readonly Name: string;
  readonly Type: number;
  readonly Description: string;
  readonly FileName: string;
  readonly Size: number;
  readonly TrainingTaskID: number;
}

const newTaskSchema = z
  .object({
    Name: z.string().max(200).optional(),
    AODFiles: z.array(aliceAodFileSchema),
    Configuration: z.unknown().optional(),
    MaxClaims: z.number().int().min(1).max(100).optional(),
  })
  .strict();

const ID = /^[0-9]{1,15}$/;

/**
 * The machine-facing API of the AliceTraINT web interface, without its races, plus a small JSON API
 * for people:
 *
 * - `GET /training-machines/{id}/training-task`: the first queued task, claimed atomically with a
 *   lease (404 when none; 401 for a bad id or secret, as the original). `HEAD` claims nothing.
 * - `POST /training-tasks/{id}/status` `{"Status": n}`: checked against the transition table (422 with
 *   the reason: a machine cannot post `Uploaded`, `Queued` or `Training`, nor go backwards; the same
 *   status again is a no-op).
 * - `POST /training-tasks/{id}/training-task-results`: multipart `file`, `file-type` (0–2, decimal),
 *   `name`, `description`; the file is stored on disk (413 above the size limit). 201 with the record.
 * - `POST /training-tasks/{id}/heartbeat`: renews the lease; answers `{"Cancel": bool}`.
 * - Every call of the machine on its task renews the lease; a task whose machine is silent past the
 *   lease is requeued (or failed after `maxClaims` claims).
 * - `/api/machines` (POST: register, the secret shown once), `/api/tasks` (GET: list with results,
 *   POST: queue a task), `/api/tasks/{id}`, `/api/tasks/{id}/cancel`, `/api/results/{id}/file`.
 */
export class Coordinator {
  private readonly leaseMs: number;
  private readonly maxClaims: number;
  private readonly maxResultBytes: number;
  private readonly resultsDir: string;
  private readonly verifier = new SecretVerifier();
  private server: Server | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  url = '';

  /** Opens the state (SQLite in `dir`, or PostgreSQL at `postgresUrl`), creating its tables when missing. */
  static async open(options: CoordinatorOptions): Promise<Coordinator> {
    mkdirSync(join(options.dir, 'results'), { recursive: true });
    const store =
      options.postgresUrl === undefined
        ? new SqliteCoordinatorStore(join(options.dir, 'coordinator.db'))
        : await PostgresCoordinatorStore.open({
            url: options.postgresUrl,
            ...(options.postgresSchema !== undefined && { schema: options.postgresSchema }),
          });
    return new Coordinator(options, store);
  }

  private constructor(
    private readonly options: CoordinatorOptions,
    /** Where machines, tasks and results are kept. */
    readonly store: CoordinatorStore,
  ) {
    this.resultsDir = join(options.dir, 'results');
    this.leaseMs = options.leaseMs ?? 10 * 60_000;
    this.maxClaims = options.maxClaims ?? 3;
    this.maxResultBytes = options.maxResultBytes ?? 256 * 1024 ** 2;
  }

  /** Registers a machine: its id and the secret, which is shown this once (only its hash is kept). */
  async registerMachine(name: string): Promise<{ id: number; secret: string }> {
    const secret = newSecret();
    const hash = await hashSecret(secret, this.options.argon2 ?? DEFAULT_ARGON2);
    const machine = await this.store.addMachine(name, hash, Date.now());
    return { id: machine.id, secret };
  }

  /** Queues a task; `aodFiles` must be a list of `{Name, Path, Size, …}` (`ALICE_COORDINATOR_INVALID`). */
  async addTask(task: {
    name?: string;
    aodFiles: unknown;
    configuration?: unknown;
    maxClaims?: number;
  }): Promise<TaskRow> {
    const aods = z.array(aliceAodFileSchema).safeParse(task.aodFiles);
    if (!aods.success) {
      const issue = aods.error.issues[0];
      throw new AliceError(
        'ALICE_COORDINATOR_INVALID',
        `AODFiles: expected a list of {Name, Path, Size}: ${issue ? `${issue.path.join('.') || '(list)'}: ${issue.message}` : ''}`,
      );
    }
    return this.store.addTask(
      {
        name: task.name ?? 'task',
        aodFiles: task.aodFiles,
        configuration: task.configuration ?? {},
        maxClaims: task.maxClaims ?? this.maxClaims,
      },
      Date.now(),
    );
  }

  /** A task with its results, as the listing shows it. */
  async view(task: TaskRow): Promise<TaskView> {
    const results = await this.store.results(task.id);
    return {
      ID: task.id,
      Name: task.name,
      Status: task.status,
      StatusName: statusName(task.status),
      TrainingMachineID: task.machineId,
      Claims: task.claims,
      LeaseExpiresAt: task.leaseExpiresAt === null ? null : new Date(task.leaseExpiresAt).toISOString(),
      Reason: task.reason,
      AODFiles: task.aodFiles,
      Configuration: task.configuration,
      Results: results.map(resultView),
    };
  }

  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) text(res, 500, `internal error: ${(error as Error).message}`);
        else res.destroy();
      });
    });
    this.server.listen(port, host);
    await once(this.server, 'listening');
    const address = this.server.address() as AddressInfo;
    this.url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
    const sweepMs = this.options.sweepMs ?? Math.max(1000, Math.floor(this.leaseMs / 4));
    this.sweeper = setInterval(
      () => void this.store.expireLeases(Date.now()).catch(() => undefined),
      sweepMs,
    );
    this.sweeper.unref();
    return this.url;
  }

  async stop(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    if (this.server) {
      this.server.closeAllConnections();
      await new Promise<void>((done) => this.server!.close(() => done()));
    }
    await this.store.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://coordinator');
    const method = req.method ?? 'GET';
    const path = url.pathname;
    let m = /^\/training-machines\/([^/]+)\/training-task$/.exec(path);
    if (m) {
      if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed(res, 'GET, HEAD');
      return this.poll(m[1]!, method === 'HEAD', req, res);
    }
    m = /^\/training-tasks\/([^/]+)\/(status|training-task-results|heartbeat)$/.exec(path);
    if (m) {
      if (method !== 'POST') return methodNotAllowed(res, 'POST');
      return this.taskCall(m[1]!, m[2]!, req, url, res);
    }
    if (path === '/api' || path.startsWith('/api/')) return this.api(method, path, req, res);
    return json(res, 404, { error: `no route ${method} ${path}` });
  }

  /** The machine behind a request's `Secret-Id`, or undefined (and a 401 answered). */
  private async authenticate(
    idText: string,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<number | undefined> {
    const secret = req.headers['secret-id'];
    const id = ID.test(idText) ? Number(idText) : undefined;
    const machine = id === undefined ? undefined : await this.store.machine(id);
    if (machine === undefined || typeof secret !== 'string' || secret === '') {
      text(res, 401, 'unauthorized');
      return undefined;
    }
    if (!(await this.verifier.verify(machine.id, machine.secretHash, secret))) {
      text(res, 401, 'unauthorized');
      return undefined;
    }
    await this.store.touchMachine(machine.id, Date.now());
    return machine.id;
  }

  private async poll(
    idText: string,
    head: boolean,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    await drain(req, 0);
    const machineId = await this.authenticate(idText, req, res);
    if (machineId === undefined) return;
    if (head) return void res.writeHead((await this.store.hasQueued()) ? 200 : 404).end();
    const task = await this.store.claim(machineId, Date.now(), this.leaseMs);
    if (!task) return text(res, 404, 'no queued task');
    json(res, 200, { ID: task.id, AODFiles: task.aodFiles, Configuration: task.configuration });
  }

  /** Task routes: the machine is found from the secret of the machine the task is assigned to. */
  private async taskCall(
    idText: string,
    route: string,
    req: IncomingMessage,
    url: URL,
    res: ServerResponse,
  ): Promise<void> {
    const limit = route === 'training-task-results' ? this.maxResultBytes + 1024 * 1024 : 64 * 1024;
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      req.resume();
      return text(res, 413, `the body (${formatBytes(declared)}) is larger than ${formatBytes(limit)}`);
    }
    const body = await drain(req, limit);
    if (body === undefined) return text(res, 413, `the body is larger than ${formatBytes(limit)}`);
    const taskId = ID.test(idText) ? Number(idText) : undefined;
    const task = taskId === undefined ? undefined : await this.store.task(taskId);
    if (task?.machineId == null)
      return text(res, 401, taskId === undefined ? 'bad task id' : 'record not found');
    const machineId = await this.authenticate(String(task.machineId), req, res);
    if (machineId === undefined) return;
    const now = Date.now();
    const current = await this.store.taskOfMachine(task.id, machineId, now, this.leaseMs);
    if (!current) return text(res, 401, 'record not found');
    if (route === 'heartbeat') {
      return json(res, 200, {
        Cancel: current.cancelRequested,
        Status: current.status,
        LeaseExpiresAt:
          current.leaseExpiresAt === null ? null : new Date(current.leaseExpiresAt).toISOString(),
      });
    }
    if (route === 'status') return this.status(current, machineId, body, res);
    return this.result(current, req, url, body, res);
  }

  private async status(task: TaskRow, machineId: number, body: Buffer, res: ServerResponse): Promise<void> {
    let value: unknown;
    try {
      value = JSON.parse(body.toString('utf8'));
    } catch {
      return text(res, 422, 'the body is not JSON; expected {"Status": n}');
    }
    const status = (value as { Status?: unknown } | null)?.Status;
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 0 || status > 5) {
      return text(
        res,
        422,
        `expected {"Status": n} with n an integer from 0 to 5, got ${body.toString('utf8').slice(0, 100)}`,
      );
    }
    const outcome = await this.store.postStatus(task.id, machineId, status, Date.now());
    if (!outcome.ok) return text(res, 422, outcome.reason);
    res.writeHead(200).end();
  }

  private async result(
    task: TaskRow,
    req: IncomingMessage,
    url: URL,
    body: Buffer,
    res: ServerResponse,
  ): Promise<void> {
    if (task.status !== TaskStatus.Training && task.status !== TaskStatus.Benchmarking) {
      return text(res, 422, `the task is ${statusName(task.status)}; results are taken while it runs`);
    }
    let form: FormData;
    try {
      form = await new Request('http://coordinator/', {
        method: 'POST',
        headers: { 'content-type': req.headers['content-type'] ?? '' },
        body,
      }).formData();
    } catch (error) {
      return text(res, 422, `expected multipart/form-data: ${(error as Error).message}`);
    }
    const field = (name: string): string | undefined => {
      const q = url.searchParams.get(name);
      if (q !== null) return q;
      const v = form.get(name);
      return typeof v === 'string' ? v : undefined;
    };
    const file = form.get('file');
    if (!(file instanceof File) || file.name === '')
      return text(res, 422, 'the "file" part with a file name is missing');
    const typeText = field('file-type') ?? '0';
    if (!/^[0-2]$/.test(typeText))
      return text(res, 422, `file-type must be 0 (log), 1 (image) or 2 (onnx), got ${typeText.slice(0, 20)}`);
    const fileName = basename(file.name.replaceAll('\\', '/'));
    const name = field('name') || fileName;
    if (name.length > 255) return text(res, 422, 'name is longer than 255 characters');
    const description = field('description') ?? '';
    if (description.length > 4096) return text(res, 422, 'description is longer than 4096 characters');
    const data = Buffer.from(await file.arrayBuffer());
    if (data.length > this.maxResultBytes)
      return text(res, 413, `the file is larger than ${formatBytes(this.maxResultBytes)}`);
    const dir = join(this.resultsDir, String(task.id));
    mkdirSync(dir, { recursive: true });
    const stored = join(dir, `${Date.now()}-${Math.random().toString(36).slice(2)}.bin`);
    writeFileSync(`${stored}.tmp`, data);
    renameSync(`${stored}.tmp`, stored);
    let row: ResultRow;
    try {
      row = await this.store.addResult({
        taskId: task.id,
        name,
        type: Number(typeText),
        description,
        fileName,
        size: data.length,
        path: stored,
        createdAt: Date.now(),
      });
    } catch (error) {
      rmSync(stored, { force: true });
      throw error;
    }
    json(res, 201, resultView(row));
  }

  private async api(method: string, path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const token = this.options.adminToken;
    const auth = req.headers.authorization ?? '';
    const allowed =
      token === undefined
        ? isLoopback(req.socket.remoteAddress)
        : auth.startsWith('Bearer ') && sameToken(auth.slice(7), token);
    if (!allowed) {
      await drain(req, 0);
      return json(res, 401, {
        error:
          token === undefined
            ? 'the API answers only on loopback without --admin-token'
            : 'bearer token required',
      });
    }
    const body = await drain(req, 16 * 1024 * 1024);
    if (body === undefined) return json(res, 413, { error: 'body larger than 16 MiB' });
    const parseBody = (): unknown => {
      try {
        return JSON.parse(body.toString('utf8'));
      } catch {
        return undefined;
      }
    };
    if (path === '/api/machines' && method === 'POST') {
      const name = (parseBody() as { Name?: unknown } | undefined)?.Name;
      if (typeof name !== 'string' || name.trim() === '' || name.length > 200) {
        return json(res, 422, { error: 'expected {"Name": "<machine name>"}' });
      }
      const machine = await this.registerMachine(name.trim());
      return json(res, 201, {
        ID: machine.id,
        Name: name.trim(),
        Secret: machine.secret,
        Note: 'the secret is shown only now',
      });
    }
    if (path === '/api/machines' && method === 'GET') {
      return json(
        res,
        200,
        (await this.store.machines()).map((m) => ({
          ID: m.id,
          Name: m.name,
          LastActivityAt: m.lastActivityAt === null ? null : new Date(m.lastActivityAt).toISOString(),
        })),
      );
    }
    if (path === '/api/tasks' && method === 'GET')
      return json(res, 200, await Promise.all((await this.store.tasks()).map((t) => this.view(t))));
    if (path === '/api/tasks' && method === 'POST') {
      const parsed = newTaskSchema.safeParse(parseBody());
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        return json(res, 422, {
          error: `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`,
        });
      }
      const t = parsed.data;
      const task = await this.addTask({
        aodFiles: t.AODFiles,
        configuration: t.Configuration ?? {},
        ...(t.Name !== undefined && { name: t.Name }),
        ...(t.MaxClaims !== undefined && { maxClaims: t.MaxClaims }),
      });
      return json(res, 201, await this.view(task));
    }
    let m = /^\/api\/tasks\/([0-9]{1,15})$/.exec(path);
    if (m && method === 'GET') {
      const task = await this.store.task(Number(m[1]));
      return task ? json(res, 200, await this.view(task)) : json(res, 404, { error: 'no such task' });
    }
    m = /^\/api\/tasks\/([0-9]{1,15})\/cancel$/.exec(path);
    if (m && method === 'POST') {
      const outcome = await this.store.cancel(Number(m[1]), Date.now());
      if (typeof outcome === 'string')
        return json(res, outcome === 'no such task' ? 404 : 422, { error: outcome });
      return json(res, 200, await this.view(outcome));
    }
    m = /^\/api\/tasks\/([0-9]{1,15})\/results\/([0-9]{1,15})\/file$/.exec(path);
    if (m && method === 'GET') {
      const id = Number(m[2]);
      const row = (await this.store.results(Number(m[1]))).find((r) => r.id === id);
      if (!row) return json(res, 404, { error: 'no such result' });
      res.writeHead(200, {
        'Content-Type': 'application/octet-stream',
        'Content-Length': row.size,
        'Content-Disposition': `attachment; filename="${row.fileName.replace(/[^A-Za-z0-9._-]/g, '_')}"`,
      });
      createReadStream(row.path)
        .on('error', () => res.destroy())
        .pipe(res);
      return;
    }
    return json(res, 404, { error: `no route ${method} ${path}` });
  }
}

function resultView(r: ResultRow): ResultView {
  return {
    ID: r.id,
    Name: r.name,
    Type: r.type,
    Description: r.description,
    FileName: r.fileName,
    Size: r.size,
    TrainingTaskID: r.taskId,
  };
}

/** The whole body, or `undefined` once it passes `limit` bytes (the rest is discarded). */
async function drain(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) over = true;
    if (!over) chunks.push(chunk);
  }
  return over ? undefined : Buffer.concat(chunks);
}

function text(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
  res.end(`${message}\n`);
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(value));
}

function methodNotAllowed(res: ServerResponse, allow: string): void {
  res.setHeader('Allow', allow);
  text(res, 405, 'Method Not Allowed');
}

function isLoopback(address: string | undefined): boolean {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1';
}
