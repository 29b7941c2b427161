import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { access, constants, mkdir, rename, stat, unlink } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { PostgresError } from '../errors/postgres-error.js';

/** Errors of the folder's file system (the others of a PUT are the client's: it went away). */
const FILE_SYSTEM_ERRORS = new Set([
  'EACCES',
  'EPERM',
  'EIO',
  'EROFS',
  'ENOENT',
  'ENOTDIR',
  'EISDIR',
  'EMFILE',
  'ENFILE',
  'EEXIST',
]);

/** The address of a stored artifact: `/artifacts/<sha256 in lower-case hex>`. */
const ARTIFACT_PATH = /^\/artifacts\/([0-9a-f]{64})$/;

/** Whether a path is under `/artifacts/` (the folder answers it, or says why not). */
export function isArtifactPath(pathname: string): boolean {
  return pathname === '/artifacts' || pathname.startsWith('/artifacts/');
}

/** A reply the folder asks the server to send. */
export interface ArtifactReply {
  status: number;
  error?: string;
}

/**
 * Artifacts by content: `PUT /artifacts/<sha256>` keeps a body whose SHA-256 is the one its address
 * names, written to a temporary name in the folder and renamed once complete and verified (never a
 * half-written or wrong file under an artifact's name); `GET` and `HEAD` serve it. The same two calls as
 * a WebDAV share's, so a gateway can stand in for the share of a distributed run's artifacts.
 */
export class ArtifactFolder {
  constructor(
    readonly dir: string,
    /** The largest body a PUT may send (bytes). */
    readonly maxBytes: number,
  ) {}

  /** Creates the folder if needed; one this process cannot write is a clear error at start. */
  async prepare(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
      await access(this.dir, constants.W_OK);
    } catch (error) {
      throw new PostgresError(
        'POSTGRES_CONFIG_INVALID',
        `--artifacts ${this.dir}: cannot write there (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
        { cause: error },
      );
    }
  }

  /** Answers a request to `/artifacts/…`; resolves with a reply to send, or undefined when it sent one. */
  async handle(
    request: IncomingMessage,
    response: ServerResponse,
    pathname: string,
  ): Promise<ArtifactReply | undefined> {
    const match = ARTIFACT_PATH.exec(pathname);
    if (match === null) {
      return { status: 400, error: 'path: expected /artifacts/<sha256: 64 lower-case hex digits>' };
    }
    const digest = match[1]!;
    const file = path.join(this.dir, digest);
    switch (request.method) {
      case 'PUT':
        return this.#put(request, digest, file);
      case 'GET':
      case 'HEAD':
        return this.#get(request, response, file);
      case undefined:
      default:
        response.setHeader('allow', 'GET, HEAD, PUT');
        return { status: 405, error: `method ${request.method ?? '?'}: expected GET, HEAD or PUT` };
    }
  }

  async #put(request: IncomingMessage, digest: string, file: string): Promise<ArtifactReply> {
    const declared = request.headers['content-length'];
    if (declared !== undefined && Number(declared) > this.maxBytes) {
      request.resume();
      return {
        status: 413,
        error: `body: ${declared} bytes, more than the ${this.maxBytes} this gateway takes`,
      };
    }
    const temporary = path.join(
      this.dir,
      `.partial-${digest.slice(0, 16)}-${randomBytes(6).toString('hex')}`,
    );
    const hash = createHash('sha256');
    let size = 0;
    const max = this.maxBytes;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        if (size > max) {
          done(new TooLarge(max));
          return;
        }
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(request, counter, createWriteStream(temporary, { flags: 'wx' }));
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      if (error instanceof TooLarge) return { status: 413, error: error.message };
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EDQUOT') {
        return { status: 507, error: `the gateway's artifact folder is full (${code})` };
      }
      if (code !== undefined && FILE_SYSTEM_ERRORS.has(code)) {
        // The folder's file system failed (permissions, I/O): the gateway's problem, not the body's.
        return { status: 500, error: `the gateway cannot keep the artifact (${code})` };
      }
      // The client went away mid-body: nothing is kept.
      return { status: 400, error: `body: not received in full (${(error as Error).message})` };
    }
    const actual = hash.digest('hex');
    if (actual !== digest) {
      await unlink(temporary).catch(() => undefined);
      return { status: 400, error: `body: its sha256 is ${actual}, not the ${digest} its address names` };
    }
    const existed = await stat(file).then(
      () => true,
      () => false,
    );
    await rename(temporary, file);
    return { status: existed ? 204 : 201 };
  }

  async #get(
    request: IncomingMessage,
    response: ServerResponse,
    file: string,
  ): Promise<ArtifactReply | undefined> {
    let size: number;
    try {
      const info = await stat(file);
      if (!info.isFile()) return { status: 404, error: 'no such artifact' };
      size = info.size;
    } catch {
      return { status: 404, error: 'no such artifact' };
    }
    response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
    if (request.method === 'HEAD') {
      response.end();
      return undefined;
    }
    await pipeline(createReadStream(file), response).catch(() => response.destroy());
    return undefined;
  }
}

class TooLarge extends Error {
  constructor(max: number) {
    super(`body: more than the ${max} bytes this gateway takes`);
  }
}
