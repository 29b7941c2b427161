import http from 'node:http';
import https from 'node:https';
import { SlurmError } from '../errors/slurm-error.js';

/** One answer of slurmrestd: the status, the parsed JSON body (or the text when it is not JSON). */
export interface HttpAnswer {
  status: number;
  /** The parsed body; undefined when it was not JSON. */
  json: unknown;
  /** The raw body text (bounded), for messages. */
  text: string;
  /** Milliseconds from sending to the end of the body. */
  elapsedMs: number;
}

/** Options of one request. */
export interface HttpRequest {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  headers?: Readonly<Record<string, string>>;
  body?: unknown;
  /** No answer within this time fails the request; default the client's. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Largest body read; a job list of a big cluster is a few MB, so this only stops a runaway server. */
const MAX_BODY_BYTES = 256 * 1024 * 1024;

/** Where slurmrestd listens: `http(s)://host:port[/prefix]` or `unix:/path/to/socket`. */
interface Target {
  transport: typeof http | typeof https;
  base: http.RequestOptions;
  prefix: string;
  describe: string;
}

/**
 * A small JSON-over-HTTP client for slurmrestd with keep-alive connections (a status poll is one request
 * on an open connection), over TCP, TLS or a Unix socket. Network failures and timeouts become
 * `SLURM_UNREACHABLE` (retryable) naming the address; every answer, whatever its status, is returned.
 */
export class HttpJson {
  private readonly target: Target;
  private readonly agent: http.Agent;

  constructor(
    url: string,
    private readonly defaultTimeoutMs: number,
  ) {
    this.target = parseTarget(url);
    const agentOptions = { keepAlive: true, maxSockets: 16, keepAliveMsecs: 10_000 };
    this.agent =
      this.target.transport === https ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  }

  /** The address, as errors name it. */
  get address(): string {
    return this.target.describe;
  }

  request(request: HttpRequest): Promise<HttpAnswer> {
    const payload = request.body === undefined ? undefined : Buffer.from(JSON.stringify(request.body));
    const timeoutMs = request.timeoutMs ?? this.defaultTimeoutMs;
    const started = Date.now();
    return new Promise<HttpAnswer>((resolve, reject) => {
      const fail = (error: unknown, what: string): void =>
        reject(
          new SlurmError(
            'SLURM_UNREACHABLE',
            `slurmrestd at ${this.target.describe} is unreachable: ${what}`,
            {
              cause: error,
              details: { url: this.target.describe, method: request.method, path: request.path },
            },
          ),
        );
      if (request.signal?.aborted) {
        reject(request.signal.reason as Error);
        return;
      }
      const req = this.target.transport.request({
        ...this.target.base,
        agent: this.agent,
        method: request.method,
        path: this.target.prefix + request.path,
        headers: {
          accept: 'application/json',
          ...(payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': String(payload.length) }),
          ...request.headers,
        },
      });
      const timer = setTimeout(() => {
        req.destroy(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const onAbort = (): void => {
        req.destroy(request.signal?.reason as Error);
      };
      request.signal?.addEventListener('abort', onAbort, { once: true });
      const done = (): void => {
        clearTimeout(timer);
        request.signal?.removeEventListener('abort', onAbort);
      };
      req.on('error', (error: NodeJS.ErrnoException) => {
        done();
        if (request.signal?.aborted) reject(request.signal.reason as Error);
        else fail(error, error.code ? `${error.code} (${error.message})` : error.message);
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) {
            req.destroy(new Error(`the answer is larger than ${MAX_BODY_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          done();
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text === '' ? undefined : JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, json, text, elapsedMs: Date.now() - started });
        });
        res.on('error', (error) => {
          done();
          fail(error, `the answer broke off: ${error.message}`);
        });
      });
      req.end(payload);
    });
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
  }
}

function parseTarget(url: string): Target {
  if (url.startsWith('unix:')) {
    const socketPath = url.slice('unix:'.length).replace(/^\/\/(?=\/)/, '');
    if (socketPath === '') throw invalidUrl(url, 'a unix: address needs a socket path');
    return { transport: http, base: { socketPath }, prefix: '', describe: url };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalidUrl(url, 'expected http://host:port, https://host:port or unix:/path/to/socket');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw invalidUrl(url, `the scheme must be http, https or unix, not ${parsed.protocol.replace(/:$/, '')}`);
  }
  if (parsed.username !== '' || parsed.password !== '' || parsed.search !== '' || parsed.hash !== '') {
    throw invalidUrl(url, 'credentials, a query or a fragment do not belong in the address');
  }
  const https_ = parsed.protocol === 'https:';
  return {
    transport: https_ ? https : http,
    base: {
      hostname: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: parsed.port === '' ? (https_ ? 443 : 80) : Number(parsed.port),
    },
    prefix: parsed.pathname.replace(/\/+$/, ''),
    describe: `${parsed.protocol}//${parsed.host}${parsed.pathname.replace(/\/+$/, '')}`,
  };
}

function invalidUrl(url: string, why: string): SlurmError {
  return new SlurmError('SLURM_CONFIG_INVALID', `slurmrestd address ${JSON.stringify(url)}: ${why}`, {
    details: { url },
  });
}
