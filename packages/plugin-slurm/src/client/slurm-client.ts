import { userInfo } from 'node:os';
import { SlurmError } from '../errors/slurm-error.js';
import { HttpJson, type HttpAnswer } from './http-json.js';
import {
  parseJob,
  parseNode,
  parsePartition,
  type JobRecord,
  type NodeInfo,
  type PartitionInfo,
} from './records.js';
import {
  CONTROLLER_RETRY_HINT_MS,
  describeProblems,
  isAuthProblem,
  isControllerProblem,
  problemsOf,
  SlurmErrno,
  submitError,
  type ApiProblem,
} from './slurm-errors.js';
import { TokenHolder, tokenClaims, type TokenSource } from './token.js';

/** The slurmrestd API versions this plugin speaks, newest first (`v0.0.38` is Slurm 22.05's). */
export const SUPPORTED_API_VERSIONS = [
  'v0.0.46',
  'v0.0.45',
  'v0.0.44',
  'v0.0.43',
  'v0.0.42',
  'v0.0.41',
  'v0.0.40',
  'v0.0.39',
  'v0.0.38',
] as const;

/** A supported API version. */
export type ApiVersion = (typeof SUPPORTED_API_VERSIONS)[number];

/** How to reach slurmrestd and who to be there. */
export interface SlurmConnectionOptions {
  /** `http://host:6820`, `https://…`, or `unix:/path/to/slurmrestd.socket`. */
  url: string;
  /**
   * The JWT (`scontrol token`), or a function returning a current one (asked again before it expires
   * and when Slurm rejects it). Default: `SLURM_JWT` from the environment. Not needed on a Unix socket
   * with local authentication.
   */
  token?: TokenSource;
  /** Slurm user name sent with the token; default the token's `sun` claim, else the invoking user. */
  user?: string;
  /** Force an API version instead of detecting it (`v0.0.38`, …). */
  apiVersion?: ApiVersion;
  /** No answer within this time is a failure; default 30 s. */
  requestTimeoutMs?: number;
}

/** A job as the runner submits it, the same for every API version. */
export interface JobSubmission {
  script: string;
  name: string;
  comment: string;
  cwd: string;
  stdout: string;
  stderr: string;
  environment: Readonly<Record<string, string>>;
  partition?: string;
  account?: string;
  qos?: string;
  cpusPerTask?: number;
  memoryMb?: number;
  gpus?: number;
  timeLimitMinutes?: number;
  /** Further job fields, passed as they are (`constraints`, `reservation`, …). */
  extra?: Readonly<Record<string, unknown>>;
}

/** What slurmctld says about itself. */
export interface PingResult {
  release?: string;
  apiVersion: ApiVersion;
  controllers: { host: string; up: boolean }[];
}

const NOT_SERVED = /unable find requested url/i;

/**
 * slurmrestd's REST API with JWT authentication, over any supported API version (detected from
 * `/openapi/v3`, else by probing the ping endpoints). Every answer is checked: authentication problems
 * become `SLURM_TOKEN_EXPIRED` / `SLURM_TOKEN_REJECTED`, an unreachable server `SLURM_UNREACHABLE`, a
 * controller that is down `SLURM_CONTROLLER_UNAVAILABLE`, and Slurm's own refusals keep Slurm's words.
 */
export class SlurmClient {
  private readonly http: HttpJson;
  private readonly tokens: TokenHolder;
  private version: Promise<ApiVersion> | undefined;
  private release: string | undefined;

  constructor(private readonly options: SlurmConnectionOptions) {
    this.http = new HttpJson(options.url, options.requestTimeoutMs ?? 30_000);
    const source = options.token ?? process.env.SLURM_JWT;
    this.tokens = new TokenHolder(source === '' ? undefined : source);
    if (options.apiVersion !== undefined && !SUPPORTED_API_VERSIONS.includes(options.apiVersion)) {
      throw new SlurmError(
        'SLURM_CONFIG_INVALID',
        `unsupported slurmrestd API version ${JSON.stringify(options.apiVersion)}; supported: ${SUPPORTED_API_VERSIONS.join(', ')}`,
      );
    }
  }

  /** The server's address, as messages name it. */
  get address(): string {
    return this.http.address;
  }

  /** The user name sent with each request. */
  async userName(): Promise<string> {
    if (this.options.user !== undefined) return this.options.user;
    if (this.tokens.configured) {
      const claimed = tokenClaims(await this.tokens.get()).user;
      if (claimed !== undefined) return claimed;
    }
    return userInfo().username;
  }

  /** The API version in use, detected once (a failed detection is tried again next time). */
  apiVersion(): Promise<ApiVersion> {
    if (this.options.apiVersion !== undefined) return Promise.resolve(this.options.apiVersion);
    this.version ??= this.detectVersion().catch((error: unknown) => {
      this.version = undefined;
      throw error;
    });
    return this.version;
  }

  /** Slurm's release (`22.05.8`), once an answer carried it. */
  get slurmRelease(): string | undefined {
    return this.release;
  }

  async ping(): Promise<PingResult> {
    const apiVersion = await this.apiVersion();
    const answer = await this.call('GET', '/ping', 'ping slurmctld');
    const pings = (answer.json as { pings?: unknown }).pings;
    const controllers = (Array.isArray(pings) ? pings : []).map((entry) => {
      const p = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
      const host = typeof p.hostname === 'string' ? p.hostname : '';
      const up = p.status === 0 || p.ping === 'UP' || p.pinged === 'UP' || p.responding === true;
      return { host, up };
    });
    return { apiVersion, controllers, ...(this.release === undefined ? {} : { release: this.release }) };
  }

  /** Submits a batch job; Slurm's refusal (also one that still queued the job) is a coded error. */
  async submit(job: JobSubmission): Promise<{ jobId: number; warnings: ApiProblem[] }> {
    const version = await this.apiVersion();
    const answer = await this.send('POST', '/job/submit', submissionBody(version, job));
    const problems = problemsOf(answer.json);
    const jobId = (answer.json as { job_id?: unknown } | undefined)?.job_id;
    const context = { partition: job.partition, account: job.account, qos: job.qos, name: job.name };
    if (typeof jobId === 'number' && jobId > 0 && problems.length === 0) {
      return { jobId, warnings: problemsOf(answer.json, 'warnings') };
    }
    this.throwIfAuthOrController(answer, problems, 'submit a job');
    if (typeof jobId === 'number' && jobId > 0) {
      // Slurm queued the job but says it cannot run (a partition limit it does not enforce at submission):
      // it would wait forever, so it is withdrawn and the refusal reported with the job's pending reason.
      const queuedJob = await this.job(jobId).catch(() => undefined);
      await this.cancel(jobId).catch(() => undefined);
      throw submitError(problems, { ...context, withdrawnJobId: jobId }, queuedJob);
    }
    if (answer.status === 404 && NOT_SERVED.test(answer.text)) throw this.notServed(version);
    if (problems.length === 0) {
      throw new SlurmError(
        'SLURM_API_ERROR',
        `slurmrestd answered the submission with HTTP ${answer.status} and no job id: ${answer.text.slice(0, 200)}`,
        { details: { status: answer.status } },
      );
    }
    throw submitError(problems, context);
  }

  /**
   * A job's record, or undefined when Slurm does not know the job (finished long enough ago to be
   * purged, or never existed). A controller that does not answer is an error, never "no such job".
   */
  async job(jobId: number): Promise<JobRecord | undefined> {
    await this.apiVersion();
    const answer = await this.send('GET', `/job/${jobId}`);
    if (typeof answer.json !== 'object' || answer.json === null) {
      // Not slurmrestd's JSON (a proxy's error page, a cut answer): nothing is known about the job.
      throw new SlurmError(
        'SLURM_API_ERROR',
        `slurmrestd answered a job query with HTTP ${answer.status} and no JSON: ${answer.text.trim().slice(0, 200)}`,
        { details: { jobId, status: answer.status } },
      );
    }
    const jobs = (answer.json as { jobs?: unknown }).jobs;
    const found = (Array.isArray(jobs) ? jobs : []).map(parseJob).find((j) => j?.jobId === jobId);
    if (found !== undefined) return found;
    const problems = problemsOf(answer.json);
    this.throwIfAuthOrController(answer, problems, `read job ${jobId}`);
    if (problems.some((p) => p.errorNumber === SlurmErrno.INVALID_JOB_ID)) return undefined;
    // 22.05 says "Unable to find JobId" with no error number both for an unknown job and for a controller
    // it could not reach: only a controller that answers a ping makes the job's absence a fact.
    await this.ping();
    return undefined;
  }

  /** Every job slurmctld knows about (all users). */
  async jobs(): Promise<JobRecord[]> {
    const answer = await this.call('GET', '/jobs', 'list jobs');
    const jobs = (answer.json as { jobs?: unknown } | undefined)?.jobs;
    return (Array.isArray(jobs) ? jobs : []).flatMap((j) => parseJob(j) ?? []);
  }

  /** Sends a signal to every process of the job (batch script included); a finished job is not an error. */
  async signal(jobId: number, signal: 'TERM' | 'INT' | 'USR1' | 'USR2' | 'CONT'): Promise<void> {
    await this.kill(jobId, `?signal=${signal}`);
  }

  /** Cancels the job (Slurm: SIGTERM, KillWait, SIGKILL); a finished or unknown job is not an error. */
  async cancel(jobId: number): Promise<void> {
    await this.kill(jobId, '');
  }

  async partitions(): Promise<PartitionInfo[]> {
    const answer = await this.call('GET', '/partitions', 'list partitions');
    const list = (answer.json as { partitions?: unknown } | undefined)?.partitions;
    return (Array.isArray(list) ? list : []).flatMap((p) => parsePartition(p) ?? []);
  }

  async nodes(): Promise<NodeInfo[]> {
    const answer = await this.call('GET', '/nodes', 'list nodes');
    const list = (answer.json as { nodes?: unknown } | undefined)?.nodes;
    return (Array.isArray(list) ? list : []).flatMap((n) => parseNode(n) ?? []);
  }

  /** Closes idle connections. */
  close(): void {
    this.http.close();
  }

  private async kill(jobId: number, query: string): Promise<void> {
    await this.apiVersion();
    const answer = await this.send('DELETE', `/job/${jobId}${query}`);
    const problems = problemsOf(answer.json);
    if (answer.status < 400 && problems.length === 0) return;
    if (
      problems.some(
        (p) => p.errorNumber === SlurmErrno.ALREADY_DONE || p.errorNumber === SlurmErrno.INVALID_JOB_ID,
      )
    ) {
      return;
    }
    this.throwIfAuthOrController(answer, problems, `signal job ${jobId}`);
    throw new SlurmError(
      'SLURM_API_ERROR',
      `Slurm could not signal job ${jobId}: ${describeProblems(problems)} (HTTP ${answer.status})`,
      { details: { jobId, slurmErrors: problems } },
    );
  }

  /** A request whose answer must be a success; anything else is a coded error naming `what`. */
  private async call(method: 'GET', path: string, what: string): Promise<HttpAnswer> {
    const version = await this.apiVersion();
    const answer = await this.send(method, path);
    const problems = problemsOf(answer.json);
    if (answer.status < 400 && problems.length === 0 && answer.json !== undefined) return answer;
    this.throwIfAuthOrController(answer, problems, what);
    if (answer.status === 404 && NOT_SERVED.test(answer.text)) throw this.notServed(version);
    throw new SlurmError(
      'SLURM_API_ERROR',
      `slurmrestd could not ${what}: ${problems.length > 0 ? describeProblems(problems) : answer.text.slice(0, 200)} (HTTP ${answer.status})`,
      { details: { status: answer.status, slurmErrors: problems } },
    );
  }

  /** One request with the credentials; a rejected token is refreshed once when it comes from a function. */
  private async send(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<HttpAnswer> {
    const version = await this.apiVersion();
    const request = async (): Promise<HttpAnswer> =>
      this.http.request({
        method,
        path: `/slurm/${version}${path}`,
        headers: await this.headers(),
        ...(body === undefined ? {} : { body }),
      });
    const answer = await request();
    if (this.tokens.refreshable && isAuthProblem(answer, problemsOf(answer.json))) {
      await this.tokens.refresh();
      return request();
    }
    this.noteRelease(answer.json);
    return answer;
  }

  private async headers(): Promise<Record<string, string>> {
    if (!this.tokens.configured && this.options.url.startsWith('unix:')) return {};
    const token = await this.tokens.get();
    return { 'X-SLURM-USER-NAME': await this.userName(), 'X-SLURM-USER-TOKEN': token };
  }

  private throwIfAuthOrController(answer: HttpAnswer, problems: readonly ApiProblem[], what: string): void {
    const reason = problems.length > 0 ? describeProblems(problems) : answer.text.trim().slice(0, 200);
    const details = { status: answer.status, elapsedMs: answer.elapsedMs, slurmErrors: problems };
    if (isAuthProblem(answer, problems)) {
      const expired = problems.some((p) => p.errorNumber === SlurmErrno.AUTH_EXPIRED);
      throw new SlurmError(
        expired ? 'SLURM_TOKEN_EXPIRED' : 'SLURM_TOKEN_REJECTED',
        `Slurm ${expired ? 'says the token expired' : 'rejected the token'} (could not ${what}): ${reason}`,
        { details },
      );
    }
    if (isControllerProblem(problems)) {
      throw new SlurmError(
        'SLURM_CONTROLLER_UNAVAILABLE',
        `slurmctld did not answer (could not ${what}): ${reason}`,
        {
          details,
        },
      );
    }
    const ambiguous =
      (lostErrno(problems) && /unable to load/i.test(reason)) ||
      problems.some((p) => p.errorNumber === SlurmErrno.ZERO_BYTES_TRANSMITTED);
    if (!ambiguous) return;
    // Slurm 22.05 (v0.0.38) passes the token through to slurmctld and loses the error number: a controller
    // that is down and a rejected token both read "... is unable to load" (or, for a submission, as a
    // connection closed without a word). slurmrestd gives up on a controller only after its connection
    // retries, while a refused token is refused at once.
    if (answer.elapsedMs >= CONTROLLER_RETRY_HINT_MS) {
      throw new SlurmError(
        'SLURM_CONTROLLER_UNAVAILABLE',
        `slurmctld did not answer slurmrestd within ${answer.elapsedMs} ms (could not ${what}): ${reason}`,
        { details },
      );
    }
    throw new SlurmError(
      'SLURM_TOKEN_REJECTED',
      `Slurm rejected the token (could not ${what}): slurmctld refused it at once ("${reason}": signed with another key, expired, or not valid for user ${JSON.stringify(this.options.user ?? "(the token's)")})`,
      { details },
    );
  }

  private notServed(version: string): SlurmError {
    return new SlurmError(
      'SLURM_API_UNSUPPORTED',
      `slurmrestd at ${this.http.address} does not serve API ${version} (start it with -s openapi/${version}, or set apiVersion)`,
      { details: { apiVersion: version } },
    );
  }

  private noteRelease(json: unknown): void {
    if (this.release !== undefined || typeof json !== 'object' || json === null) return;
    const meta = (json as { meta?: Record<string, unknown> }).meta ?? {};
    const slurm = (meta.Slurm ?? meta.slurm) as { release?: unknown } | undefined;
    if (typeof slurm?.release === 'string') this.release = slurm.release;
  }

  private async detectVersion(): Promise<ApiVersion> {
    let headers = await this.headers();
    let spec = await this.http.request({ method: 'GET', path: '/openapi/v3', headers });
    if ((spec.status === 401 || spec.status === 403) && this.tokens.refreshable) {
      await this.tokens.refresh();
      headers = await this.headers();
      spec = await this.http.request({ method: 'GET', path: '/openapi/v3', headers });
    }
    if (spec.status === 401 || spec.status === 403) {
      throw new SlurmError(
        'SLURM_TOKEN_REJECTED',
        `slurmrestd at ${this.http.address} refused the credentials: ${spec.text.trim().slice(0, 200)}`,
        {
          details: { status: spec.status },
        },
      );
    }
    const paths = (spec.json as { paths?: unknown } | undefined)?.paths;
    let offered: string[] = [];
    if (typeof paths === 'object' && paths !== null) {
      offered = [
        ...new Set(Object.keys(paths).flatMap((p) => /^\/slurm\/(v\d+\.\d+\.\d+)\//.exec(p)?.[1] ?? [])),
      ];
    } else {
      // No usable specification: ask each version's ping endpoint, newest first.
      for (const version of SUPPORTED_API_VERSIONS) {
        const probe = await this.http.request({ method: 'GET', path: `/slurm/${version}/ping`, headers });
        if (!(probe.status === 404 && NOT_SERVED.test(probe.text))) {
          offered.push(version);
          break;
        }
      }
    }
    const chosen = SUPPORTED_API_VERSIONS.find((v) => offered.includes(v));
    if (chosen !== undefined) return chosen;
    throw new SlurmError(
      'SLURM_API_UNSUPPORTED',
      `slurmrestd at ${this.http.address} offers ${offered.length > 0 ? offered.join(', ') : 'no slurm API version'}; this plugin speaks ${SUPPORTED_API_VERSIONS.join(', ')} (start slurmrestd with -s openapi/v0.0.38 or newer)`,
      { details: { offered } },
    );
  }
}

/** Error entries without a Slurm error number (22.05 loses it: -1). */
function lostErrno(problems: readonly ApiProblem[]): boolean {
  return problems.length > 0 && problems.every((p) => p.errorNumber === undefined || p.errorNumber < 0);
}

/** The submission body of an API version: v0.0.38's flat options, or the data-parser job description. */
export function submissionBody(version: ApiVersion, job: JobSubmission): Record<string, unknown> {
  const legacy = version === 'v0.0.38';
  const desc: Record<string, unknown> = {
    ...job.extra,
    name: job.name,
    comment: job.comment,
    current_working_directory: job.cwd,
    standard_output: job.stdout,
    standard_error: job.stderr,
    environment: legacy
      ? { ...job.environment }
      : Object.entries(job.environment).map(([key, value]) => `${key}=${value}`),
  };
  if (job.partition !== undefined) desc.partition = job.partition;
  if (job.account !== undefined) desc.account = job.account;
  if (job.qos !== undefined) desc.qos = job.qos;
  if (job.cpusPerTask !== undefined) desc.cpus_per_task = job.cpusPerTask;
  if (job.memoryMb !== undefined)
    desc.memory_per_node = legacy ? job.memoryMb : { set: true, number: job.memoryMb };
  if (job.timeLimitMinutes !== undefined) {
    desc.time_limit = legacy ? job.timeLimitMinutes : { set: true, number: job.timeLimitMinutes };
  }
  if (job.gpus !== undefined && job.gpus > 0) {
    if (legacy) desc.gres = `gpu:${job.gpus}`;
    else desc.tres_per_node = `gres/gpu:${job.gpus}`;
  }
  // The engine retries a step itself; a job Slurm requeued after a node failure would run twice.
  if (legacy) return { script: job.script, job: { ...desc, no_requeue: true } };
  desc.requeue = false;
  desc.script = job.script;
  return { job: desc };
}
