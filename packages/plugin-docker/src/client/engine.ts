import type { IncomingMessage } from 'node:http';
import type Docker from 'dockerode';
import type { ContainerCreateBody } from '../spec/create-body.js';
import { statusOf } from '../errors/classify-error.js';

/** One raw Engine API request through docker-modem. */
interface DialOptions {
  path: string;
  method: 'GET' | 'POST' | 'DELETE' | 'HEAD';
  query?: Record<string, unknown>;
  body?: unknown;
  statusCodes: Record<number, true | string>;
  isStream?: boolean;
  abortSignal?: AbortSignal;
}

/** The body of `POST /containers/{id}/wait`. */
export interface WaitResult {
  StatusCode: number;
  Error?: { Message?: string } | null;
}

/** The parts of `GET /containers/{id}/json` the plugin reads. */
export interface ContainerInspect {
  Id: string;
  Name: string;
  State: { Status: string; Running: boolean; ExitCode: number; OOMKilled: boolean; Error?: string };
  Config: { Labels?: Record<string, string> | null };
  HostConfig: Record<string, unknown>;
  Mounts: { Type?: string; Source?: string; Destination?: string; RW?: boolean }[];
}

/** Reads a whole response body. */
async function readBody(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

const ok = (...extra: number[]): Record<number, true | string> => {
  const codes: Record<number, true | string> = {
    200: true,
    201: true,
    204: true,
    400: 'bad parameter',
    404: 'not found',
    409: 'conflict',
    500: 'server error',
  };
  for (const c of extra) codes[c] = true;
  return codes;
};

/**
 * A small typed layer over docker-modem for the container hot path. dockerode's own helpers are loose
 * (pitfall 16), put the whole create body into the query string, and hide the moment a wait is
 * registered (pitfall 4); this layer makes each request explicit.
 */
export class Engine {
  constructor(readonly docker: Docker) {}

  dial<T>(options: DialOptions): Promise<T> {
    const { query, body, ...rest } = options;
    const opts: Record<string, unknown> = {};
    if (query !== undefined) opts._query = query;
    // docker-modem sends `_body || options` as the POST body: an empty body keeps the query out of it.
    if (body !== undefined || rest.method === 'POST') opts._body = body ?? {};
    return new Promise<T>((resolve, reject) => {
      this.docker.modem.dial(
        { ...rest, options: query === undefined && body === undefined ? {} : opts },
        (err: Error | null, data: unknown) => (err ? reject(err) : resolve(data as T)),
      );
    });
  }

  createContainer(
    name: string,
    body: ContainerCreateBody,
  ): Promise<{ Id: string; Warnings?: string[] | null }> {
    return this.dial({
      path: '/containers/create?',
      method: 'POST',
      query: { name },
      body,
      statusCodes: ok(),
    });
  }

  inspectContainer(id: string): Promise<ContainerInspect> {
    return this.dial({ path: `/containers/${id}/json`, method: 'GET', statusCodes: ok() });
  }

  /** Starts a container; 304 (already started) is success. */
  async startContainer(id: string): Promise<void> {
    await this.dial({ path: `/containers/${id}/start`, method: 'POST', statusCodes: ok(304) });
  }

  /**
   * Attaches to stdout and stderr. Resolves once the daemon answered, i.e. the attach is in place, so it
   * can (and must) be called before start: output written right after start is not lost (pitfall 3).
   */
  attach(id: string): Promise<IncomingMessage> {
    return this.dial({
      path: `/containers/${id}/attach?`,
      method: 'POST',
      query: { stream: true, stdout: true, stderr: true },
      isStream: true,
      statusCodes: ok(101),
    });
  }

  /**
   * Registers a wait and resolves when the daemon has registered it (response headers, API >= 1.30), with
   * the result's promise (wrapped). Registering before start avoids the 404 race with AutoRemove (pitfall 4).
   */
  async registerWait(
    id: string,
    condition: 'next-exit' | 'removed',
  ): Promise<{ result: Promise<WaitResult> }> {
    const res = await this.dial<IncomingMessage>({
      path: `/containers/${id}/wait?`,
      method: 'POST',
      query: { condition },
      isStream: true,
      statusCodes: ok(),
    });
    // Wrapped in an object: returning the promise itself from an async function would flatten it, and
    // the caller would only continue once the container has exited.
    return { result: readBody(res).then((buf) => JSON.parse(buf.toString('utf8')) as WaitResult) };
  }

  /** Sends a signal; a container that is gone (404) or not running (409) is fine. */
  async kill(id: string, signal: string): Promise<void> {
    try {
      await this.dial({
        path: `/containers/${id}/kill?`,
        method: 'POST',
        query: { signal },
        statusCodes: ok(),
      });
    } catch (error) {
      const status = statusOf(error);
      if (status !== 404 && status !== 409) throw error;
    }
  }

  /** Removes a container with its anonymous volumes; gone (404) or removal in progress (409) is fine. */
  async removeContainer(id: string): Promise<void> {
    try {
      await this.dial({
        path: `/containers/${id}?`,
        method: 'DELETE',
        query: { force: true, v: true },
        statusCodes: ok(),
      });
    } catch (error) {
      const status = statusOf(error);
      if (status !== 404 && status !== 409) throw error;
    }
  }

  /** Container events filtered by label (a stream of JSON messages). */
  events(labels: string[], events: string[]): Promise<IncomingMessage> {
    return this.dial({
      path: '/events?',
      method: 'GET',
      query: { filters: { type: ['container'], label: labels, event: events } },
      isStream: true,
      statusCodes: ok(),
    });
  }

  /** Lists containers; the label filter is mandatory so no caller can list (or act on) everything by accident. */
  listContainers(labels: string[], all = true): Promise<ListedContainer[]> {
    if (labels.length === 0) throw new Error('listContainers needs a label filter');
    return this.dial({
      path: '/containers/json?',
      method: 'GET',
      query: { all, filters: { label: labels } },
      statusCodes: ok(),
    });
  }

  inspectImage(
    ref: string,
  ): Promise<{ Id: string; RepoTags?: string[] | null; RepoDigests?: string[] | null }> {
    return this.dial({ path: `/images/${ref}/json`, method: 'GET', statusCodes: ok() });
  }

  info(): Promise<{ Runtimes?: Record<string, unknown>; ServerVersion?: string }> {
    return this.dial({ path: '/info', method: 'GET', statusCodes: ok() });
  }
}

/** One entry of `GET /containers/json`. */
export interface ListedContainer {
  Id: string;
  Names: string[];
  State: string;
  Status: string;
  Labels: Record<string, string> | null;
}
