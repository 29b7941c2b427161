import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { z } from 'zod';
import { isBeamlineError } from '@beamline/core';
import { PostgresError } from '../errors/postgres-error.js';
import { QueueConnection } from '../queue/queue-connection.js';
import { PostgresWorkerQueue } from '../worker/postgres-worker-queue.js';
import type { JobStarted } from '../queue/queue-runner.js';
import type { ClaimedJob, JobEnd } from '../worker/worker-queue.js';
import { ArtifactFolder, isArtifactPath } from './artifact-folder.js';
import {
  claimRequest,
  describeIssues,
  endRequest,
  heartbeatRequest,
  MAX_JSON_BODY,
  outputRequest,
  startedRequest,
} from './gateway-protocol.js';
import { GatewayTokens } from './gateway-tokens.js';

/** Options of {@link startGateway}. */
export interface GatewayOptions {
  /** `postgres://…` of the shared queue. */
  url: string;
  /** Schema of the queue tables (default `beamline`). */
  schema?: string;
  /** Address to listen on (default `0.0.0.0`) and port (0: any free one). */
  host?: string;
  port: number;
  /** PEM certificate chain and private key of the HTTPS listener. */
  cert: string | Buffer;
  key: string | Buffer;
  /** A folder for `PUT`/`GET /artifacts/<sha256>`; without it those answer 404. */
  artifactsDir?: string;
  /** The largest artifact a PUT may send (bytes, default 16 GiB). */
  maxArtifactBytes?: number;
  /** One line per thing worth knowing (a refused token by name, a failed call); never a token. */
  onMessage?: (message: string) => void;
}

/** A started gateway. */
export interface StartedGateway {
  /** `https://host:port` it listens on. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** A reply with a status and a JSON body. */
class Reply {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

const fail = (status: number, error: string): Reply => new Reply(status, { error });

/** How long a JSON body may take to arrive in full. */
const BODY_TIMEOUT_MS = 30_000;

/**
 * `beamline gateway`: an HTTPS server that runs the queue's PostgreSQL side ({@link PostgresWorkerQueue})
 * on behalf of workers that cannot reach the database (firewalled hosts): they connect out to it, with
 * a per-worker bearer token; the same leases, refusals and idempotent writes as direct workers. Every
 * body is bounded and checked (400 naming the field); one bad request never stops the gateway.
 */
export async function startGateway(options: GatewayOptions): Promise<StartedGateway> {
  const say = options.onMessage ?? (() => undefined);
  // First, so that a certificate or key that is not PEM (or does not match) fails before anything opens.
  let server: https.Server;
  try {
    server = https.createServer({
      cert: options.cert,
      key: options.key,
      requestTimeout: 0,
      headersTimeout: 30_000,
      keepAliveTimeout: 75_000,
    });
  } catch (error) {
    throw new PostgresError(
      'POSTGRES_CONFIG_INVALID',
      `gateway certificate or key: ${(error as Error).message} (expected PEM files, the key matching the certificate)`,
      { cause: error },
    );
  }
  const connection = await QueueConnection.open({
    url: options.url,
    ...(options.schema === undefined ? {} : { schema: options.schema }),
    onWarning: (message) => say(message),
  });
  const queue = new PostgresWorkerQueue(connection);
  const tokens = new GatewayTokens(connection.pool, connection.schema);
  let artifacts: ArtifactFolder | undefined;
  try {
    await tokens.ensureSchema();
    if (options.artifactsDir !== undefined) {
      artifacts = new ArtifactFolder(options.artifactsDir, options.maxArtifactBytes ?? 16 * 1024 ** 3);
      await artifacts.prepare();
    }
  } catch (error) {
    await connection.close();
    throw error;
  }
  const handler = new GatewayHandler(queue, tokens, artifacts, say);
  // A connection silent for two minutes is closed (a long poll waits at most one).
  server.setTimeout(120_000);
  server.on('request', (request, response) => void handler.serve(request, response));
  server.on('tlsClientError', () => undefined);
  server.on('clientError', (_error, socket) => socket.destroy());
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host ?? '0.0.0.0', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await connection.close();
    throw error;
  }
  server.on('error', (error) => say(`gateway server: ${error.message}`));
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let stopping: Promise<void> | undefined;
  return {
    url: `https://${host}:${address.port}`,
    port: address.port,
    stop: () =>
      (stopping ??= (async () => {
        handler.stopping = true;
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
          // Long polls answer at once (empty) when the gateway stops.
          handler.wakeAll();
          setTimeout(() => server.closeAllConnections(), 2_000).unref();
        });
        await connection.close();
      })()),
  };
}

/** The requests of a gateway. */
class GatewayHandler {
  stopping = false;
  readonly #waiting = new Set<(queue: string) => void>();
  readonly #refusedAt = new Map<string, number>();
  #known: { at: number; names: Set<string> } = { at: 0, names: new Set() };

  constructor(
    private readonly queue: PostgresWorkerQueue,
    private readonly tokens: GatewayTokens,
    private readonly artifacts: ArtifactFolder | undefined,
    private readonly say: (message: string) => void,
  ) {
    queue.onWork((name) => {
      if (name !== '' && !this.#known.names.has(name)) this.#known = { at: 0, names: this.#known.names };
      this.wakeAll(name);
    });
  }

  /** Wakes every waiting claim; `queue`: the queue that got work (`''`: unknown). */
  wakeAll(queue = ''): void {
    for (const wake of [...this.#waiting]) wake(queue);
  }

  async serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let reply: Reply | undefined;
    const pathname = (request.url ?? '/').split('?')[0]!;
    try {
      const name = await this.#authenticate(request);
      if (name === undefined) {
        request.resume();
        this.#refused(request.socket.remoteAddress ?? '?');
        reply = fail(
          401,
          'authorization: expected a valid gateway token (Bearer …); this one is unknown or revoked',
        );
      } else if (isArtifactPath(pathname)) {
        if (this.artifacts === undefined) {
          request.resume();
          reply = fail(404, 'this gateway keeps no artifacts (start it with --artifacts DIR)');
        } else {
          const answered = await this.artifacts.handle(request, response, pathname);
          if (answered !== undefined) {
            reply = new Reply(
              answered.status,
              answered.error === undefined ? undefined : { error: answered.error },
            );
          }
        }
      } else {
        reply = await this.#route(request, response, pathname, name);
      }
    } catch (error) {
      request.resume();
      // The database is out of reach (or restarting): the worker tries again.
      const message = isBeamlineError(error) ? error.message : (error as Error).message;
      this.say(`${request.method ?? '?'} ${pathname}: ${message}`);
      reply = fail(503, `the queue is out of reach: ${message}`);
    }
    if (reply === undefined || response.headersSent || response.destroyed) {
      if (!response.writableEnded && !response.headersSent) response.end();
      return;
    }
    const body = reply.body === undefined ? undefined : Buffer.from(JSON.stringify(reply.body));
    response.writeHead(reply.status, {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      'content-length': body?.length ?? 0,
      'cache-control': 'no-store',
      // After a refused body the rest of it is not worth reading: the connection closes.
      ...(reply.status === 413 || reply.status === 401 || reply.status === 408
        ? { connection: 'close' }
        : {}),
    });
    response.end(body);
  }

  /** Says that a client's token was refused (its address, never the token), once a minute per address. */
  #refused(address: string): void {
    const now = Date.now();
    if ((this.#refusedAt.get(address) ?? 0) > now - 60_000) return;
    if (this.#refusedAt.size > 10_000) this.#refusedAt.clear();
    this.#refusedAt.set(address, now);
    this.say(`refused a request from ${address}: no token, or an unknown or revoked one`);
  }

  async #authenticate(request: IncomingMessage): Promise<string | undefined> {
    const header = request.headers.authorization;
    if (header === undefined || !header.startsWith('Bearer ')) return undefined;
    return this.tokens.verify(header.slice('Bearer '.length).trim());
  }

  async #route(
    request: IncomingMessage,
    response: ServerResponse,
    pathname: string,
    tokenName: string,
  ): Promise<Reply> {
    const route = `${request.method ?? ''} ${pathname}`;
    if (route === 'GET /v1/queues') {
      request.resume();
      return new Reply(200, { queues: await this.queue.candidates() });
    }
    const post = POSTS[pathname];
    if (post === undefined) {
      request.resume();
      return fail(404, `no such endpoint: ${route}`);
    }
    if (request.method !== 'POST') {
      request.resume();
      return fail(405, `method ${request.method ?? '?'}: expected POST`);
    }
    const body = await readJson(request);
    if (body instanceof Reply) return body;
    const parsed = post.safeParse(body);
    if (!parsed.success) return fail(400, describeIssues(parsed.error));
    const data = parsed.data;
    switch (pathname) {
      case '/v1/claim':
        return this.#claim(data as z.infer<typeof claimRequest>, tokenName, response);
      case '/v1/jobs/heartbeat': {
        const { id, token } = data as z.infer<typeof heartbeatRequest>;
        return new Reply(200, await this.queue.heartbeat({ id, token }));
      }
      case '/v1/jobs/started': {
        const { id, token, started } = data as z.infer<typeof startedRequest>;
        return accepted(await this.queue.started({ id, token }, started as JobStarted));
      }
      case '/v1/jobs/output': {
        const { id, token, first, chunks } = data as z.infer<typeof outputRequest>;
        const decoded = chunks.map((chunk) => ({
          stream: chunk.stream,
          data: Buffer.from(chunk.data, 'base64'),
        }));
        return accepted(await this.queue.output({ id, token }, first, decoded));
      }
      default: {
        const { id, token, end } = data as z.infer<typeof endRequest>;
        return accepted(await this.queue.end({ id, token }, end as JobEnd));
      }
    }
  }

  /**
   * Claims for a remote worker from the queues it named (those that exist), waiting for work up to
   * `waitMs` (woken by the queue's notifications, with a poll every 2 s as a fallback). Each job says
   * how long after the request's arrival its claim was made, so the worker's lease clock is never late.
   */
  async #claim(
    body: z.infer<typeof claimRequest>,
    tokenName: string,
    response: ServerResponse,
  ): Promise<Reply> {
    const arrived = Date.now();
    const deadline = arrived + body.waitMs;
    const worker = `${tokenName}/${body.worker}`;
    const won: Array<ClaimedJob & { waitedMs: number }> = [];
    let queuesChanged = false;
    // The connection closed before the answer: the worker went away (stopped, killed, cut off).
    let closed = false;
    response.once('close', () => (closed = true));
    for (;;) {
      const known = await this.#knownQueues();
      const names = body.queues.filter((name) => known.has(name));
      for (const name of names) {
        if (won.length >= body.room) break;
        const waitedMs = Date.now() - arrived;
        let jobs: ClaimedJob[];
        try {
          jobs = await this.queue.claim(name, body.room - won.length, worker);
        } catch (error) {
          // What was won already goes to the worker (else it would wait out its lease unrun).
          if (won.length === 0) throw error;
          this.say(`${worker}: claiming from ${name} failed: ${(error as Error).message}`);
          break;
        }
        for (const job of jobs) won.push({ ...job, waitedMs });
      }
      // A worker that went away meanwhile gets nothing more: what it won is handed back below.
      if (won.length > 0 || this.stopping || Date.now() >= deadline || closed) break;
      const woken = await this.#wait(Math.min(2_000, deadline - Date.now()), response);
      // Work in a queue the worker did not name (a new requirement): it reads the queues again and decides.
      if (woken !== undefined && woken !== '' && !body.queues.includes(woken)) {
        queuesChanged = true;
        break;
      }
    }
    if (closed && won.length > 0) {
      for (const job of won) await this.queue.end(job, { kind: 'hand-back' }).catch(() => undefined);
      return new Reply(200, { jobs: [] });
    }
    if (won.length > 0) this.say(`${worker} claimed ${won.map((job) => job.id).join(', ')}`);
    return new Reply(200, {
      queuesChanged,
      jobs: won.map((job) => ({
        id: job.id,
        queue: job.queue,
        spec: job.spec,
        token: job.token,
        leaseMs: job.leaseMs,
        runId: job.runId,
        stepId: job.stepId,
        waitedMs: job.waitedMs,
      })),
    });
  }

  async #knownQueues(): Promise<Set<string>> {
    if (Date.now() - this.#known.at < 2_000) return this.#known.names;
    const names = new Set((await this.queue.candidates()).map(({ name }) => name));
    this.#known = { at: Date.now(), names };
    return names;
  }

  /** Waits up to `ms`; resolves with the queue that got work, or undefined after the time. */
  #wait(ms: number, response: ServerResponse): Promise<string | undefined> {
    return new Promise((resolve) => {
      const gone = (): void => done();
      const done = (queue?: string): void => {
        clearTimeout(timer);
        this.#waiting.delete(done);
        response.off('close', gone);
        resolve(queue);
      };
      const timer = setTimeout(() => done(), Math.max(0, ms));
      // The worker went away (it stops): stop waiting for it.
      response.once('close', gone);
      this.#waiting.add(done);
    });
  }
}

const POSTS: Record<string, z.ZodType> = {
  '/v1/claim': claimRequest,
  '/v1/jobs/heartbeat': heartbeatRequest,
  '/v1/jobs/started': startedRequest,
  '/v1/jobs/output': outputRequest,
  '/v1/jobs/end': endRequest,
};

function accepted(ok: boolean): Reply {
  return new Reply(200, { accepted: ok });
}

/** Reads a JSON body of at most {@link MAX_JSON_BODY} bytes; a {@link Reply} (413, 400) when it is not one. */
function readJson(request: IncomingMessage): Promise<unknown> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > MAX_JSON_BODY) {
    request.resume();
    return Promise.resolve(
      fail(413, `body: ${declared} bytes, more than the ${MAX_JSON_BODY} a request may have`),
    );
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // A body trickling in (a byte now and then) must not hold a connection for ever.
    const timer = setTimeout(
      () => finish(fail(408, `body: not received within ${BODY_TIMEOUT_MS / 1000} s`)),
      BODY_TIMEOUT_MS,
    );
    const finish = (value: unknown): void => {
      clearTimeout(timer);
      request.off('data', onData).off('end', onEnd).off('error', onError);
      // What is left of the body is read and dropped.
      request.resume();
      resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > MAX_JSON_BODY)
        finish(fail(413, `body: more than the ${MAX_JSON_BODY} bytes a request may have`));
      else chunks.push(chunk);
    };
    const onEnd = (): void => {
      try {
        finish(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
      } catch {
        finish(fail(400, 'body: expected a JSON object'));
      }
    };
    const onError = (error: Error): void =>
      finish(fail(400, `body: not received in full (${error.message})`));
    request.on('data', onData).on('end', onEnd).on('error', onError);
  });
}
