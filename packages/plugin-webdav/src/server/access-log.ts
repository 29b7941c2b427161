import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';

/** One handled request, as the access log records it (never credentials, never the query string). */
export interface AccessEvent {
  /** ISO time the request arrived. */
  readonly time: string;
  readonly method: string;
  /** Decoded URL path (no query string); the raw target, cut, when it could not be decoded. */
  readonly path: string;
  /** The authenticated user or token name; undefined for anonymous requests. */
  readonly user: string | undefined;
  readonly status: number;
  /** Response body bytes sent. */
  readonly bytes: number;
  /** Request body bytes declared (`Content-Length`), or undefined. */
  readonly bytesIn: number | undefined;
  readonly durationMs: number;
  /** Client address. */
  readonly address: string | undefined;
  /** Why a request was refused or failed (a short reason, no secrets). */
  readonly reason?: string;
  /** The worker process that handled the request (cluster mode only). */
  readonly pid?: number;
}

/** Appends access events to a file, one JSON object per line. */
export class AccessLogFile {
  private readonly stream: WriteStream;
  private failed = false;

  constructor(
    readonly file: string,
    private readonly onError: (error: Error) => void,
  ) {
    mkdirSync(dirname(file), { recursive: true });
    this.stream = createWriteStream(file, { flags: 'a', mode: 0o640 });
    this.stream.on('error', (error) => {
      if (!this.failed) this.onError(error);
      this.failed = true;
    });
  }

  write(event: AccessEvent): void {
    if (this.failed) return;
    this.stream.write(`${JSON.stringify(event)}\n`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.stream.end(resolve));
  }
}
