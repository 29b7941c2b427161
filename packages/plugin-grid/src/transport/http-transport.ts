import type { ChecksumAlgorithm, Checksums } from '../checksums/checksum-format.js';
import type { TlsCredentials } from '../credentials/client-cert.js';
import { parseRetryAfter } from '../schedule/backoff.js';
import { statusError, toGridError } from './failure.js';
import { responseValidator } from './http-response.js';
import { headerValue, parseDigestHeader, redactUrl, wantDigest } from './http-headers.js';
import { Http1Client, type HttpResponse } from './http1/client.js';

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
 * Native HTTP(S)/WebDAV access through plugin-grid's own HTTP/1.1 client ({@link Http1Client}), which
 * reads bodies straight into the write buffers. Header names are sent exactly as written, which old
 * XrdHttp servers need (`Range`, `Want-Digest` are matched case-sensitively there). Redirects (dCache
 * doors, EOS) are followed on purpose.
 */
export class HttpTransport {
  private readonly client: Http1Client;

  constructor(options: HttpTransportOptions) {
    this.client = new Http1Client({
      connectionsPerHost: options.connectionsPerHost,
      ...(options.tls && { tls: options.tls }),
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      headersTimeoutMs: options.headersTimeoutMs ?? 60_000,
      bodyTimeoutMs: options.bodyTimeoutMs ?? 60_000,
    });
  }

  /** HEAD with `Want-Digest`; storage often reports checksums only here (dCache, XrdHttp). */
  async head(
    url: string,
    headers: Record<string, string>,
    algorithms: readonly ChecksumAlgorithm[],
    signal: AbortSignal,
  ): Promise<HeadInfo> {
    const where = redactUrl(url);
    let res: HttpResponse;
    try {
      res = await this.client.request({
        url,
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
    return {
      size: res.contentLength,
      validator: responseValidator(res.headers),
      acceptRanges: /bytes/i.test(headerValue(res.headers['accept-ranges']) ?? ''),
      digests: parseDigestHeader(headerValue(res.headers.digest), algorithms),
    };
  }

  /** A GET (optionally with `Range`); the caller validates the status against what it asked for. */
  async get(url: string, headers: Record<string, string>, signal: AbortSignal): Promise<HttpResponse> {
    try {
      return await this.client.request({ url, method: 'GET', headers, signal });
    } catch (e) {
      throw toGridError(e, redactUrl(url));
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  /** Drops sockets at once (abort path). */
  async destroy(): Promise<void> {
    await this.client.destroy();
  }
}
