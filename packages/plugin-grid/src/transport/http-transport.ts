import { Agent, interceptors, type Dispatcher } from 'undici';
import type { ChecksumAlgorithm, Checksums } from '../checksums/checksum-format.js';
import type { TlsCredentials } from '../credentials/client-cert.js';
import { GridError } from '../errors/grid-error.js';
import { parseRetryAfter } from '../schedule/backoff.js';
import { statusError, toGridError } from './failure.js';
import { responseValidator } from './http-response.js';
import { headerValue, parseDigestHeader, redactUrl, wantDigest } from './http-headers.js';

/** Settings of the HTTP(S)/WebDAV transport. */
export interface HttpTransportOptions {
  /** Sockets per origin (the per-host cap, enforced again at the socket level). */
  readonly connectionsPerHost: number;
  readonly tls?: TlsCredentials;
  /** TCP + TLS connect timeout (ms). Default 10 000: a dead replica must not cost XRootD's 120 s. */
  readonly connectTimeoutMs?: number;
  /** Time to the response headers (ms). Default 60 000. */
  readonly headersTimeoutMs?: number;
  /** Longest silence inside a body (ms). Default 60 000; the stall detector usually acts first. */
  readonly bodyTimeoutMs?: number;
}

/** What a HEAD told us about a replica. */
export interface HeadInfo {
  size: number | undefined;
  /** Strong ETag, else Last-Modified: identifies the file's version (see `responseValidator`). */
  validator: string | undefined;
  acceptRanges: boolean;
  /** Only the algorithms asked for, validated (see `parseDigestHeader`). */
  digests: Checksums;
}

/** Rewrites WebDAV scheme aliases onto HTTP(S). */
export function toHttpUrl(url: string): string {
  if (url.startsWith('davs://')) return `https://${url.slice(7)}`;
  if (url.startsWith('dav://')) return `http://${url.slice(6)}`;
  return url;
}

/**
 * Native HTTP(S)/WebDAV access through undici. `undici.request` keeps header names exactly as written,
 * which old XrdHttp servers need (`Range`, `Want-Digest` are matched case-sensitively there); `fetch`
 * lowercases them. Redirects (dCache doors, EOS) are followed on purpose.
 */
export class HttpTransport {
  readonly dispatcher: Dispatcher;
  private readonly agent: Agent;

  constructor(options: HttpTransportOptions) {
    const tls = options.tls;
    this.agent = new Agent({
      connections: options.connectionsPerHost,
      connect: {
        timeout: options.connectTimeoutMs ?? 10_000,
        ...(tls?.pfx && { pfx: tls.pfx }),
        ...(tls?.cert && { cert: tls.cert }),
        ...(tls?.key && { key: tls.key }),
        ...(tls?.passphrase !== undefined && { passphrase: tls.passphrase }),
        ...(tls?.ca && { ca: tls.ca }),
      },
      headersTimeout: options.headersTimeoutMs ?? 60_000,
      bodyTimeout: options.bodyTimeoutMs ?? 60_000,
      keepAliveTimeout: 10_000,
    });
    this.dispatcher = this.agent.compose(interceptors.redirect({ maxRedirections: 5 }));
  }

  /** HEAD with `Want-Digest`; storage often reports checksums only here (dCache, XrdHttp). */
  async head(
    url: string,
    headers: Record<string, string>,
    algorithms: readonly ChecksumAlgorithm[],
    signal: AbortSignal,
  ): Promise<HeadInfo> {
    const where = redactUrl(url);
    let res: Dispatcher.ResponseData;
    try {
      res = await this.dispatcher.request({
        ...splitUrl(url),
        method: 'HEAD',
        headers: { ...headers, ...(algorithms.length > 0 && { 'Want-Digest': wantDigest(algorithms) }) },
        signal,
      });
    } catch (e) {
      throw toGridError(e, where);
    }
    await res.body.dump();
    if (res.statusCode >= 300)
      throw statusError(res.statusCode, where, parseRetryAfter(headerValue(res.headers['retry-after'])));
    const len = headerValue(res.headers['content-length']);
    return {
      size: len !== undefined && /^\d+$/.test(len) ? Number(len) : undefined,
      validator: responseValidator(res.headers),
      acceptRanges: /bytes/i.test(headerValue(res.headers['accept-ranges']) ?? ''),
      digests: parseDigestHeader(headerValue(res.headers.digest), algorithms),
    };
  }

  /** A GET (optionally with `Range`); the caller validates the status against what it asked for. */
  async get(
    url: string,
    headers: Record<string, string>,
    signal: AbortSignal,
  ): Promise<Dispatcher.ResponseData> {
    try {
      return await this.dispatcher.request({
        ...splitUrl(url),
        method: 'GET',
        headers,
        signal,
        // Bigger body chunks mean fewer async-iterator turns and write calls per GiB.
        highWaterMark: 1024 * 1024,
      });
    } catch (e) {
      throw toGridError(e, redactUrl(url));
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** Drops sockets at once (abort path). */
  async destroy(): Promise<void> {
    await this.agent.destroy(new GridError('GRID_ABORTED', 'transport closed'));
  }
}

function splitUrl(url: string): { origin: string; path: string } {
  const u = new URL(url);
  return { origin: u.origin, path: `${u.pathname}${u.search}` };
}
