import https from 'node:https';
import type { z } from 'zod';
import { PostgresError } from '../errors/postgres-error.js';
import type { JobStarted } from '../queue/queue-runner.js';
import type { Requirement } from '../queue/requirement.js';
import type {
  ClaimedJob,
  HeartbeatReply,
  JobEnd,
  OutputChunk,
  QueueCandidate,
  WorkerQueue,
} from '../worker/worker-queue.js';
import {
  acceptedReply,
  claimReply,
  describeIssues,
  heartbeatReply,
  queuesReply,
  WORKER_NAME,
} from './gateway-protocol.js';

/** How a worker reaches a `beamline gateway`. */
export interface GatewayClientOptions {
  /** `https://host:port` of the gateway. */
  url: string;
  /** This worker's token (`beamline gateway token add NAME` printed it). */
  token: string;
  /** PEM certificate(s) to trust for the gateway (a self-signed one); default: the system's CAs. */
  ca?: string | Buffer;
  /** How long a request without a reply is given before it counts as failed (ms, default 30,000). */
  timeoutMs?: number;
}

/** Fails clearly when a worker's name cannot go through a gateway (it would be refused at every claim). */
export function checkGatewayWorkerName(name: string): void {
  if (!WORKER_NAME.test(name)) {
    throw new PostgresError(
      'POSTGRES_CONFIG_INVALID',
      `worker name: expected 1-200 letters, digits and . : @ / - _ to go through a gateway, got ${JSON.stringify(name)}`,
    );
  }
}

/** Most bytes of a reply the worker reads (a claim reply carries process specs). */
const MAX_REPLY = 16 * 1024 * 1024;

/** How often a held job's heartbeat goes through the gateway at most, so a cancel arrives within seconds. */
const HEARTBEAT_MS = 2_000;

/**
 * The {@link WorkerQueue} through a `beamline gateway`: HTTPS requests that the worker opens (nothing
 * connects to it), a bearer token on each, the claim waiting at the gateway for work (long polling).
 * A request without a reply (gateway restarting, network cut) throws and is tried again by the worker;
 * a 401 (revoked token) throws too: the worker then stops its processes when their leases run out, like
 * a worker cut off from the database.
 */
export class HttpWorkerQueue implements WorkerQueue {
  readonly heartbeatMs = HEARTBEAT_MS;
  readonly description: string;
  readonly #base: URL;
  readonly #agent: https.Agent;
  readonly #token: string;
  readonly #timeoutMs: number;

  private constructor(options: GatewayClientOptions) {
    let base: URL;
    try {
      base = new URL(options.url);
    } catch {
      throw new PostgresError(
        'POSTGRES_CONFIG_INVALID',
        `gateway: expected https://host:port, got ${JSON.stringify(options.url)}`,
      );
    }
    if (base.protocol !== 'https:' || base.username !== '' || base.password !== '') {
      throw new PostgresError(
        'POSTGRES_CONFIG_INVALID',
        `gateway: expected https://host:port (HTTPS, no credentials in the address), got ${base.protocol}//${base.host}`,
      );
    }
    const token = options.token.trim();
    if (token === '' || /\s/.test(token)) {
      throw new PostgresError(
        'POSTGRES_CONFIG_INVALID',
        'gateway token: expected one word, got an empty or spaced value',
      );
    }
    this.#base = base;
    this.#token = token;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#agent = new https.Agent({
      keepAlive: true,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
    });
    this.description = `gateway ${base.origin}`;
  }

  /** Checks that the gateway answers and takes the token: an unreachable gateway or a refused token fails here. */
  static async open(options: GatewayClientOptions): Promise<HttpWorkerQueue> {
    const queue = new HttpWorkerQueue(options);
    try {
      await queue.candidates();
    } catch (error) {
      queue.close();
      throw error;
    }
    return queue;
  }

  async candidates(): Promise<QueueCandidate[]> {
    const reply = await this.#call('GET', '/v1/queues', undefined, queuesReply);
    return reply.queues.map((queue) => ({
      name: queue.name,
      requirement: queue.requirement as unknown as Requirement,
    }));
  }

  async claim(queue: string, room: number, worker: string): Promise<ClaimedJob[]> {
    return (await this.claimAll([queue], room, worker, 0)).jobs;
  }

  async claimAll(
    queues: readonly string[],
    room: number,
    worker: string,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<{ jobs: ClaimedJob[]; queuesChanged: boolean }> {
    const sentAt = Date.now();
    const reply = await this.#call(
      'POST',
      '/v1/claim',
      { worker, queues, room, waitMs },
      claimReply,
      waitMs + this.#timeoutMs,
      signal,
    );
    const jobs = reply.jobs.map((job) => ({
      id: job.id,
      queue: job.queue,
      // The request reached the gateway no earlier than it was sent, and the claim came `waitedMs` later.
      claimedAt: sentAt + job.waitedMs,
      spec: job.spec as unknown as ClaimedJob['spec'],
      token: job.token,
      leaseMs: job.leaseMs,
      runId: job.runId,
      stepId: job.stepId,
    }));
    return { jobs, queuesChanged: reply.queuesChanged ?? false };
  }

  heartbeat(job: ClaimedJob): Promise<HeartbeatReply> {
    // A heartbeat stuck on a dead connection (a cut network drops packets) must not hold up the next one
    // for longer than the beats' interval: it fails, and the next beat opens a new connection.
    const timeoutMs = Math.min(this.#timeoutMs, Math.max(1_000, Math.floor(job.leaseMs / 3)));
    return this.#call(
      'POST',
      '/v1/jobs/heartbeat',
      { id: job.id, token: job.token },
      heartbeatReply,
      timeoutMs,
    );
  }

  async started(job: ClaimedJob, started: JobStarted): Promise<boolean> {
    const reply = await this.#call(
      'POST',
      '/v1/jobs/started',
      { id: job.id, token: job.token, started },
      acceptedReply,
    );
    return reply.accepted;
  }

  async output(job: ClaimedJob, first: number, chunks: readonly OutputChunk[]): Promise<boolean> {
    const body = {
      id: job.id,
      token: job.token,
      first,
      chunks: chunks.map((chunk) => ({ stream: chunk.stream, data: chunk.data.toString('base64') })),
    };
    return (await this.#call('POST', '/v1/jobs/output', body, acceptedReply)).accepted;
  }

  async end(job: ClaimedJob, end: JobEnd): Promise<boolean> {
    const body = { id: job.id, token: job.token, end };
    return (await this.#call('POST', '/v1/jobs/end', body, acceptedReply)).accepted;
  }

  onWork(): () => void {
    return () => undefined;
  }

  onCancel(): () => void {
    return () => undefined;
  }

  close(): void {
    this.#agent.destroy();
  }

  #call<T>(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    reply: z.ZodType<T>,
    timeoutMs = this.#timeoutMs,
    signal?: AbortSignal,
  ): Promise<T> {
    const url = new URL(path, this.#base);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise<T>((resolve, reject) => {
      const unreachable = (message: string, cause?: unknown): void =>
        reject(
          new PostgresError(
            'POSTGRES_GATEWAY_UNREACHABLE',
            `${method} ${url.origin}${path}: ${message}`,
            cause === undefined ? {} : { cause },
          ),
        );
      const request = https.request(url, {
        method,
        agent: this.#agent,
        timeout: timeoutMs,
        headers: {
          authorization: `Bearer ${this.#token}`,
          accept: 'application/json',
          ...(payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': payload.length }),
        },
      });
      request.on('timeout', () => request.destroy(new Error(`no reply within ${timeoutMs} ms`)));
      if (signal !== undefined) {
        const abort = (): void => void request.destroy(new Error('given up: the worker is stopping'));
        if (signal.aborted) abort();
        signal.addEventListener('abort', abort, { once: true });
        request.on('close', () => signal.removeEventListener('abort', abort));
      }
      request.on('error', (error) => unreachable(error.message, error));
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_REPLY) {
            request.destroy(new Error(`reply larger than ${MAX_REPLY} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        response.on('error', (error) => unreachable(error.message, error));
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          if (status < 200 || status >= 300) {
            const said =
              typeof parsed === 'object' && parsed !== null && 'error' in parsed
                ? String(parsed.error)
                : text.slice(0, 200);
            if (status === 401) {
              reject(
                new PostgresError(
                  'POSTGRES_GATEWAY_REFUSED',
                  `${url.origin}${path}: the gateway refused this worker's token (401: unknown or revoked; ask for a new one with beamline gateway token add)`,
                ),
              );
            } else if (status >= 400 && status < 500) {
              reject(
                new PostgresError(
                  'POSTGRES_GATEWAY_REFUSED',
                  `${method} ${url.origin}${path}: ${status} ${said}`,
                ),
              );
            } else {
              reject(
                new PostgresError(
                  'POSTGRES_GATEWAY_FAILED',
                  `${method} ${url.origin}${path}: ${status} ${said}`,
                ),
              );
            }
            return;
          }
          const checked = reply.safeParse(parsed);
          if (!checked.success) {
            reject(
              new PostgresError(
                'POSTGRES_GATEWAY_FAILED',
                `${method} ${url.origin}${path}: unexpected reply (${describeIssues(checked.error)})`,
              ),
            );
            return;
          }
          resolve(checked.data);
        });
      });
      request.end(payload);
    });
  }
}
