import { checkTokenExpiry, discoverBearerToken, type DiscoveredToken } from '../credentials/bearer-token.js';
import { loadTlsCredentials, type TlsCredentials } from '../credentials/client-cert.js';
import { GridError } from '../errors/grid-error.js';
import type { GridFile } from '../model/grid-file.js';
import type { DownloadOptions } from './download-options.js';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

/**
 * A job's credentials: the client certificate and CAs (loaded and checked for expiry once, before any
 * transfer) and the bearer token (checked once, then read again for every request, since tokens rotate).
 */
export class JobCredentials {
  private constructor(
    private readonly options: DownloadOptions,
    readonly tls: TlsCredentials,
  ) {}

  static async load(files: readonly GridFile[], options: DownloadOptions): Promise<JobCredentials> {
    const cred = options.credentials;
    const needsTls = files.some((f) => f.replicas.some((r) => /^(https|davs):/i.test(r.url)));
    let tls: TlsCredentials = {};
    if (needsTls || cred?.clientCert || cred?.caDir) {
      tls = await loadTlsCredentials(cred?.clientCert, cred?.caDir, cred?.env ?? process.env);
      if (tls.notAfterMs !== undefined && tls.notAfterMs < Date.now()) {
        throw new GridError(
          'GRID_CREDENTIALS_EXPIRED',
          `the client certificate expired on ${new Date(tls.notAfterMs).toISOString()}`,
        );
      }
    }
    const credentials = new JobCredentials(options, tls);
    const token = await credentials.token();
    if (token) checkTokenExpiry(token);
    return credentials;
  }

  /** `Authorization` for a URL: https, or plain http on loopback only (a token would travel in clear). */
  async authHeaders(url: string): Promise<Record<string, string>> {
    const u = new URL(url);
    if (u.protocol !== 'https:' && !LOOPBACK.test(u.hostname)) return {};
    const t = await this.token();
    return t ? { Authorization: `Bearer ${t.token}` } : {};
  }

  private async token(): Promise<DiscoveredToken | undefined> {
    const setting = this.options.credentials?.bearerToken ?? 'discover';
    if (setting === false) return undefined;
    if (setting !== 'discover') return { token: setting, source: 'option' };
    return discoverBearerToken(this.options.credentials?.env ?? process.env);
  }
}
