import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync, statSync } from 'node:fs';
import { open, readdir, rename, rm } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { digestFile, formatBytes, type FileDigest } from '@beamline/core';
import { PostgresError } from '../errors/postgres-error.js';

/** Where the distributed mode keeps artifacts when a worker does not have the run's folder. */
export interface ArtifactShareOptions {
  /**
   * The share's base URL (`https://host/dav/beamline/`): files are stored content-addressed as
   * `PUT <share>/<sha256>` and read back as `GET <share>/<sha256>` (a plugin-webdav share, or a gateway).
   */
  share: string;
  /** A file holding the bearer token (first line); the token is never printed. */
  tokenFile?: string;
  /** The bearer token itself (prefer `tokenFile`: a token in a command line is visible to other users). */
  token?: string;
  /** Where a worker makes the private scratch folders of the steps it runs (default: the system's temp folder). */
  scratchDir?: string;
  /** A PEM certificate to trust besides the system's, for an `https://` share with its own (a gateway's self-signed one). */
  ca?: string | Buffer;
}

/** Environment variables read when no share is configured in code or on the command line. */
const ARTIFACT_SHARE_ENV = 'BEAMLINE_ARTIFACT_SHARE';
const ARTIFACT_TOKEN_FILE_ENV = 'BEAMLINE_ARTIFACT_TOKEN_FILE';

/** A file on the share: its digest and size (core's {@link FileDigest}). */
export type SharedDigest = FileDigest;

const SHA256 = /^[0-9a-f]{64}$/;
/** Errors of the destination's file system (the others of a download are the network's). */
const FILE_ERRORS = new Set([
  'EACCES',
  'EPERM',
  'ENOSPC',
  'EDQUOT',
  'EEXIST',
  'EROFS',
  'EISDIR',
  'ENOTDIR',
  'ENOENT',
  'ELOOP',
  'EMFILE',
  'ENFILE',
  'EIO',
]);
/**
 * How long a transfer may go without a byte moving (waiting for the answer, or in the middle of a body)
 * before the share counts as unreachable.
 */
const IDLE_TIMEOUT_MS = 30_000;

/**
 * The explicit options, else the environment's (`BEAMLINE_ARTIFACT_SHARE`, `BEAMLINE_ARTIFACT_TOKEN_FILE`);
 * undefined when neither names a share (the run's folder is then shared: nothing is uploaded).
 */
export function artifactShareOptions(
  explicit: ArtifactShareOptions | undefined,
  env: NodeJS.ProcessEnv = process.env,
): ArtifactShareOptions | undefined {
  if (explicit !== undefined) return explicit;
  const share = env[ARTIFACT_SHARE_ENV];
  if (share === undefined || share === '') return undefined;
  const tokenFile = env[ARTIFACT_TOKEN_FILE_ENV];
  return { share, ...(tokenFile === undefined || tokenFile === '' ? {} : { tokenFile }) };
}

/**
 * A content-addressed artifact share over plain HTTP(S): `PUT <base>/<sha256>` and `GET <base>/<sha256>`
 * with `Authorization: Bearer`. Uploads stream from the file; downloads stream into a temporary file in
 * the destination's folder, are checked against the digest and size, and only then renamed into place:
 * a file whose bytes do not match its digest is never accepted under its final name.
 */
export class ArtifactShare {
  /** The base URL, ending with `/` (safe to print: it never carries a credential). */
  readonly url: string;
  readonly scratchDir: string | undefined;
  readonly #token: string | undefined;
  readonly #base: URL;
  readonly #ca: Array<string | Buffer> | undefined;

  private constructor(base: URL, token: string | undefined, options: ArtifactShareOptions) {
    this.#base = base;
    this.url = base.href;
    this.#token = token;
    this.scratchDir = options.scratchDir;
    this.#ca = options.ca === undefined ? undefined : [...tls.rootCertificates, options.ca];
  }

  /** Validates the options and reads the token file. @throws PostgresError `POSTGRES_CONFIG_INVALID`. */
  static open(options: ArtifactShareOptions): ArtifactShare {
    const invalid = (why: string): PostgresError =>
      new PostgresError('POSTGRES_CONFIG_INVALID', `artifact share: ${why}`);
    let base: URL;
    try {
      base = new URL(options.share);
    } catch {
      throw invalid(
        `expected an http:// or https:// URL such as https://host/dav/beamline/, got ${JSON.stringify(options.share)}`,
      );
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw invalid(`expected an http:// or https:// URL, got the scheme ${base.protocol}`);
    }
    if (base.username !== '' || base.password !== '') {
      throw invalid('the URL must not carry a user or password: give a bearer token in tokenFile');
    }
    if (base.search !== '' || base.hash !== '') {
      throw invalid(`the URL must not have a query or fragment: ${base.origin}${base.pathname}`);
    }
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    if (options.token !== undefined && options.tokenFile !== undefined) {
      throw invalid('give either token or tokenFile, not both');
    }
    let token = options.token;
    if (options.tokenFile !== undefined) {
      try {
        token = readFileSync(options.tokenFile, 'utf8').split(/\r?\n/)[0]?.trim();
      } catch (error) {
        throw invalid(
          `cannot read the token file ${options.tokenFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
        );
      }
      if (token === undefined || token === '') throw invalid(`the token file ${options.tokenFile} is empty`);
    }
    if (token !== undefined && /[\r\n\0]/.test(token))
      throw invalid('the token contains a line break or NUL');
    if (options.scratchDir !== undefined && !isFolder(options.scratchDir)) {
      throw invalid(`scratchDir ${options.scratchDir} is not a folder`);
    }
    return new ArtifactShare(base, token, options);
  }

  /** The URL of one artifact (for messages; it carries no credential). */
  urlOf(sha256: string): string {
    return new URL(sha256, this.#base).href;
  }

  /**
   * Uploads the file at `file`, which must have the given digest: it is hashed first, so the share never
   * gets bytes under a name that is not their digest (a file changed since it was recorded is refused).
   */
  async upload(file: string, expected: SharedDigest, what: string, signal?: AbortSignal): Promise<void> {
    checkDigest(expected, what);
    let actual: SharedDigest;
    try {
      actual = await digestFile(file, signal);
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new PostgresError(
        'POSTGRES_ARTIFACT_MISSING',
        `${what} cannot be read at ${file} for upload to ${this.url}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
        { details: { file, sha256: expected.sha256 } },
      );
    }
    if (actual.sha256 !== expected.sha256 || actual.size !== expected.size) {
      throw new PostgresError(
        'POSTGRES_ARTIFACT_INVALID',
        `${what} at ${file} changed since it was recorded (sha256 ${short(actual.sha256)}, ${formatBytes(actual.size)}; recorded ${short(expected.sha256)}, ${formatBytes(expected.size)}): not uploaded`,
        { details: { file, sha256: expected.sha256, actual: actual.sha256 } },
      );
    }
    // The bytes sent are hashed again: a file changed between the two reads is not reported as uploaded.
    const sent = createHash('sha256');
    let sentSize = 0;
    const response = await this.#request('PUT', expected.sha256, what, signal, {
      size: expected.size,
      body: () => {
        // `end` bounds the read to the recorded size: a file that grew since sends no more than announced.
        const stream: Readable =
          expected.size === 0 ? Readable.from([]) : createReadStream(file, { end: expected.size - 1 });
        return stream.on('data', (chunk: Buffer) => {
          sent.update(chunk);
          sentSize += chunk.length;
        });
      },
    });
    response.resume();
    if (response.statusCode !== 200 && response.statusCode !== 201 && response.statusCode !== 204) {
      throw this.#refused(response, 'PUT', expected.sha256, what);
    }
    if (sentSize !== expected.size || sent.digest('hex') !== expected.sha256) {
      throw new PostgresError(
        'POSTGRES_ARTIFACT_INVALID',
        `${what} at ${file} changed while it was uploaded to ${this.url}: the share may hold other bytes under its digest (every reader verifies them); upload it again once it no longer changes`,
        { details: { file, sha256: expected.sha256 } },
      );
    }
  }

  /**
   * Downloads an artifact into `destination` (an absolute path whose folder exists): streamed into a
   * temporary file beside it, checked against the digest and size, then renamed into place.
   */
  async download(
    expected: SharedDigest,
    destination: string,
    what: string,
    signal?: AbortSignal,
  ): Promise<void> {
    checkDigest(expected, what);
    const response = await this.#request('GET', expected.sha256, what, signal);
    if (response.statusCode === 404 || response.statusCode === 410) {
      response.resume();
      throw new PostgresError(
        'POSTGRES_ARTIFACT_MISSING',
        `${what} (sha256 ${expected.sha256}, ${formatBytes(expected.size)}) is not on the artifact share ${this.urlOf(expected.sha256)} (HTTP ${response.statusCode}): check that the step that made it uploaded it to this same share (the coordinator and every worker need the same --artifact-share), and that nothing removed it`,
        { details: { sha256: expected.sha256, share: this.url, status: response.statusCode } },
      );
    }
    if (response.statusCode !== 200) {
      response.resume();
      throw this.#refused(response, 'GET', expected.sha256, what);
    }
    const folder = path.dirname(destination);
    const stem = `.${path.basename(destination).slice(0, 100)}.`;
    // What a download of this file left when its process was killed (kill -9) goes first.
    await removeLeftovers(folder, stem);
    const temporary = path.join(folder, `${stem}${randomBytes(6).toString('hex')}.part`);
    const hash = createHash('sha256');
    let size = 0;
    let tooLong = false;
    try {
      // `wx`: a name that is already there (a link planted in the folder) is never opened.
      const handle = await open(temporary, 'wx', 0o644);
      const out = createWriteStream('', { fd: handle, flush: true });
      await pipeline(
        response,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            size += chunk.length;
            if (size > expected.size) {
              tooLong = true;
              throw new Error('more bytes than recorded');
            }
            hash.update(chunk);
            yield chunk;
          }
        },
        out,
        ...(signal === undefined ? [] : [{ signal }]),
      );
      const sha256 = hash.digest('hex');
      if (tooLong || size !== expected.size || sha256 !== expected.sha256) {
        throw new PostgresError(
          'POSTGRES_ARTIFACT_INVALID',
          `${what} from the artifact share ${this.urlOf(expected.sha256)} does not match its digest (got sha256 ${short(sha256)}, ${formatBytes(size)}; expected ${short(expected.sha256)}, ${formatBytes(expected.size)}): refused, the file is corrupt or was replaced on the share`,
          { details: { sha256: expected.sha256, actual: sha256, size, expectedSize: expected.size } },
        );
      }
      await rename(temporary, destination);
    } catch (error) {
      await rm(temporary, { force: true }).catch(() => undefined);
      if (tooLong) {
        throw new PostgresError(
          'POSTGRES_ARTIFACT_INVALID',
          `${what} from the artifact share ${this.urlOf(expected.sha256)} is longer than its recorded ${formatBytes(expected.size)}: refused, the file is corrupt or was replaced on the share`,
          { details: { sha256: expected.sha256, expectedSize: expected.size } },
        );
      }
      if (error instanceof PostgresError || signal?.aborted) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== undefined && FILE_ERRORS.has(code)) {
        throw new PostgresError(
          'POSTGRES_ARTIFACT_INVALID',
          `${what} cannot be written to ${destination}: ${code}`,
          { cause: error, retryable: false, details: { destination, errno: code } },
        );
      }
      throw this.#unreachable(error, 'GET', expected.sha256, what);
    }
  }

  async #request(
    method: 'GET' | 'PUT',
    sha256: string,
    what: string,
    signal: AbortSignal | undefined,
    upload?: { size: number; body: () => NodeJS.ReadableStream },
  ): Promise<IncomingMessage> {
    const url = new URL(sha256, this.#base);
    const headers: Record<string, string | number> = {};
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    if (upload !== undefined) {
      headers['content-length'] = upload.size;
      headers['content-type'] = 'application/octet-stream';
    }
    const client = url.protocol === 'https:' ? https : http;
    try {
      return await new Promise<IncomingMessage>((resolve, reject) => {
        // A connection of its own (no keep-alive pool): the idle timeout then watches this transfer only,
        // from the request to the end of the body.
        const request = client.request(url, {
          method,
          headers,
          agent: false,
          ...(this.#ca === undefined ? {} : { ca: this.#ca }),
          ...(signal === undefined ? {} : { signal }),
        });
        request.setTimeout(IDLE_TIMEOUT_MS, () =>
          request.destroy(new Error(`nothing moved for ${IDLE_TIMEOUT_MS / 1000} s`)),
        );
        request.once('response', resolve);
        request.once('error', reject);
        if (upload === undefined) request.end();
        else pipeline(upload.body(), request).catch(reject);
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw this.#unreachable(error, method, sha256, what);
    }
  }

  #unreachable(error: unknown, method: string, sha256: string, what: string): PostgresError {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    const check = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(reason)
      ? "the share's TLS certificate is not trusted here: give its certificate (ca, --ca) or use one the system trusts"
      : 'check the URL, that the share is up and that this host can reach it';
    return new PostgresError(
      'POSTGRES_ARTIFACT_UNREACHABLE',
      `cannot ${method === 'PUT' ? 'upload' : 'download'} ${what} (sha256 ${short(sha256)}): the artifact share ${this.url} is out of reach (${reason}); ${check}`,
      { cause: error, details: { share: this.url, sha256, method } },
    );
  }

  #refused(response: IncomingMessage, method: string, sha256: string, what: string): PostgresError {
    const status = response.statusCode ?? 0;
    const hint =
      status === 401
        ? 'the share wants a valid bearer token: check --artifact-token-file (tokenFile) and that the token is listed in the share configuration'
        : status === 403
          ? `the token may not ${method === 'PUT' ? 'write' : 'read'} there: check the share's ${method === 'PUT' ? 'write' : 'read'} rule`
          : status === 507 || status === 413
            ? 'the share is full or the file is larger than it accepts'
            : 'check the share and its log';
    return new PostgresError(
      'POSTGRES_ARTIFACT_UNREACHABLE',
      `the artifact share refused ${method} ${this.urlOf(sha256)} for ${what} (HTTP ${status}${response.statusMessage ? ` ${response.statusMessage}` : ''}): ${hint}`,
      { details: { share: this.url, sha256, status } },
    );
  }
}

/** Removes `<stem><12 hex>.part` files in `folder`: temporary downloads a killed process left. */
async function removeLeftovers(folder: string, stem: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch {
    return;
  }
  for (const name of names) {
    if (name.startsWith(stem) && /^[0-9a-f]{12}\.part$/.test(name.slice(stem.length))) {
      await rm(path.join(folder, name), { force: true }).catch(() => undefined);
    }
  }
}

function checkDigest(digest: SharedDigest, what: string): void {
  if (!SHA256.test(digest.sha256) || !Number.isSafeInteger(digest.size) || digest.size < 0) {
    throw new PostgresError(
      'POSTGRES_ARTIFACT_INVALID',
      `${what}: expected a lower-case hex SHA-256 and a size in bytes, got ${JSON.stringify(digest.sha256)} and ${JSON.stringify(digest.size)}`,
    );
  }
}

function short(sha256: string): string {
  return `${sha256.slice(0, 12)}…`;
}

function isFolder(folder: string): boolean {
  try {
    return statSync(folder).isDirectory();
  } catch {
    return false;
  }
}
