import { escapeText } from '@beamline/core';
import { openAsBlob } from 'node:fs';
import { basename } from 'node:path';
import { AliceError } from '../errors/alice-error.js';
import { queuedTaskSchema, type MachineStatus, type QueuedTask, type ResultType } from './wire.js';

/** How to reach the web interface. */
export interface AliceClientOptions {
  /** `ALICETRAINT_BASE_URL` (a trailing slash is ignored). */
  readonly baseUrl: string;
  /** `MACHINE_ID`. */
  readonly machineId: string;
  /** `MACHINE_SECRET_KEY`: sent as the `Secret-Id` header. */
  readonly secretKey: string;
  /** Limit of one poll, status or heartbeat request (default 30 s). */
  readonly requestTimeoutMs?: number;
  /** Limit of one upload (default 15 min). */
  readonly uploadTimeoutMs?: number;
}

/** One result to upload. */
export interface ResultUpload {
  /** The local file. Large files are streamed; the server spills them to disk, there is no size cap. */
  readonly path: string;
  readonly type: ResultType;
  /** The result's name (the web interface shows it; models must be named as {@link CCDB_MODEL_NAMES}). */
  readonly name: string;
  readonly description: string;
}

/** What a heartbeat answered. */
export type HeartbeatAnswer =
  { readonly supported: false } | { readonly supported: true; readonly cancel: boolean };

/** Server answers are quoted up to this many characters in errors. */
const QUOTE_MAX = 200;

/**
 * The machine-facing HTTP API of AliceTraINT, as the Go server behaves (reference 1.9): every call
 * carries `Secret-Id: <secret>` and `Content-Type: application/json` (also the body-less GET, as the
 * original module sends it); a poll's task comes as `text/plain`, so the body is parsed and checked
 * whatever the content type, and an HTML page (an unknown path answers one with 200) is refused.
 *
 * Errors: 401 is `ALICE_UNAUTHORIZED` (the server gives it for a wrong secret and for every task
 * failure); 422 `ALICE_REFUSED`; other statuses `ALICE_HTTP_STATUS`; no connection
 * `ALICE_UNREACHABLE`; an answer that is not what the API gives `ALICE_BAD_RESPONSE`.
 */
export class AliceClient {
  readonly baseUrl: string;
  private readonly requestTimeoutMs: number;
  private readonly uploadTimeoutMs: number;

  constructor(private readonly options: AliceClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.uploadTimeoutMs = options.uploadTimeoutMs ?? 15 * 60_000;
  }

  /** `GET /training-machines/{id}/training-task`: the task handed to this machine, or `undefined` (404). */
  async pollTask(signal?: AbortSignal): Promise<QueuedTask | undefined> {
    const path = `/training-machines/${this.options.machineId}/training-task`;
    const { status, text, contentType } = await this.request('GET', path, undefined, signal);
    if (status === 404) return undefined;
    if (status !== 200) throw statusError('poll', status, text);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      const html = /^\s*</.test(text) || contentType.includes('html');
      throw new AliceError(
        'ALICE_BAD_RESPONSE',
        html
          ? `poll: ${this.baseUrl}${path} answered an HTML page, not a task: is ALICETRAINT_BASE_URL the web interface's address?`
          : `poll: the answer is not JSON: ${quote(text)}`,
        { details: { status, contentType } },
      );
    }
    const parsed = queuedTaskSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new AliceError(
        'ALICE_TASK_INVALID',
        `poll: the task is not {ID, AODFiles, Configuration}: ${issue ? `${issue.path.join('.') || '(top)'}: ${issue.message}` : ''}`,
        { details: { id: (json as { ID?: unknown } | null)?.ID } },
      );
    }
    return parsed.data;
  }

  /** `POST /training-tasks/{id}/status` with `{"Status": n}`; the server answers 200 with an empty body. */
  async postStatus(taskId: number, status: MachineStatus, signal?: AbortSignal): Promise<void> {
    const body = JSON.stringify({ Status: status });
    const answer = await this.request('POST', `/training-tasks/${taskId}/status`, body, signal);
    if (answer.status !== 200)
      throw statusError(`status ${status} of task ${taskId}`, answer.status, answer.text);
  }

  /**
   * `POST /training-tasks/{id}/training-task-results` as `multipart/form-data` with `file-type`,
   * `name`, `description` and `file` (the file's base name as filename; the server keeps only that).
   * Answers the stored record (201).
   */
  async uploadResult(taskId: number, upload: ResultUpload, signal?: AbortSignal): Promise<unknown> {
    let blob: Blob;
    try {
      blob = await openAsBlob(upload.path);
    } catch (error) {
      throw new AliceError('ALICE_UPLOAD_FAILED', `cannot read ${upload.path} for upload: ${String(error)}`, {
        cause: error,
        retryable: false,
      });
    }
    const form = new FormData();
    form.set('file-type', String(upload.type));
    form.set('name', upload.name);
    form.set('description', upload.description);
    form.set('file', blob, basename(upload.path) || upload.name);
    const what = `upload of ${upload.name} to task ${taskId}`;
    const answer = await this.request(
      'POST',
      `/training-tasks/${taskId}/training-task-results`,
      form,
      signal,
    );
    if (answer.status !== 201) throw statusError(what, answer.status, answer.text);
    try {
      return JSON.parse(answer.text);
    } catch {
      throw new AliceError(
        'ALICE_BAD_RESPONSE',
        `${what}: 201 without the stored record: ${quote(answer.text)}`,
      );
    }
  }

  /**
   * `POST /training-tasks/{id}/heartbeat`, which the Beamline coordinator answers (renewing the task's
   * lease, and `{"Cancel": true}` when the task was cancelled). The Go server has no such route and
   * answers 405 or 404: `{supported: false}`, and the agent stops sending them.
   */
  async heartbeat(taskId: number, signal?: AbortSignal): Promise<HeartbeatAnswer> {
    const answer = await this.request('POST', `/training-tasks/${taskId}/heartbeat`, '{}', signal);
    if (answer.status === 405 || answer.status === 404) return { supported: false };
    if (answer.status !== 200) throw statusError(`heartbeat of task ${taskId}`, answer.status, answer.text);
    try {
      return { supported: true, cancel: (JSON.parse(answer.text) as { Cancel?: unknown }).Cancel === true };
    } catch {
      return { supported: false };
    }
  }

  private async request(
    method: 'GET' | 'POST',
    path: string,
    body: string | FormData | undefined,
    signal: AbortSignal | undefined,
  ): Promise<{ status: number; text: string; contentType: string }> {
    const url = `${this.baseUrl}${path}`;
    const timeout = AbortSignal.timeout(
      body instanceof FormData ? this.uploadTimeoutMs : this.requestTimeoutMs,
    );
    const headers: Record<string, string> = { 'Secret-Id': this.options.secretKey };
    // FormData sets its own multipart Content-Type with the boundary.
    if (!(body instanceof FormData)) headers['Content-Type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        ...(body !== undefined && { body }),
        redirect: 'error',
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (error) {
      if (signal?.aborted) throw signal.reason ?? error;
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new AliceError(
        'ALICE_UNREACHABLE',
        `${method} ${url}: ${timeout.aborted ? 'no answer in time' : (cause?.code ?? cause?.message ?? String(error))}`,
        { cause: error },
      );
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      if (signal?.aborted) throw signal.reason ?? error;
      throw new AliceError('ALICE_UNREACHABLE', `${method} ${url}: the answer broke off`, { cause: error });
    }
    return { status: response.status, text, contentType: response.headers.get('content-type') ?? '' };
  }
}

function statusError(what: string, status: number, text: string): AliceError {
  if (status === 401) {
    return new AliceError(
      'ALICE_UNAUTHORIZED',
      `${what}: the server answered 401 (${quote(text)}): MACHINE_ID and MACHINE_SECRET_KEY do not match a registered machine, or the task is not assigned to it`,
      { details: { status } },
    );
  }
  if (status === 422) {
    return new AliceError('ALICE_REFUSED', `${what}: the server refused it (422: ${quote(text)})`, {
      details: { status },
    });
  }
  return new AliceError('ALICE_HTTP_STATUS', `${what}: unexpected HTTP ${status} (${quote(text)})`, {
    details: { status },
    retryable: status >= 500 || status === 408 || status === 429,
  });
}

function quote(text: string): string {
  const t = text.trim();
  return escapeText(t.length > QUOTE_MAX ? `${t.slice(0, QUOTE_MAX)}…` : t) || 'empty body';
}
