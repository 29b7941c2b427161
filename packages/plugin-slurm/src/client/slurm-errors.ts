import { SlurmError, type SlurmErrorCode } from '../errors/slurm-error.js';
import type { HttpAnswer } from './http-json.js';

/** One entry of a slurmrestd answer's `errors` (or `warnings`) list. */
export interface ApiProblem {
  /** Slurm's error number (`slurm_errno.h`); -1 or absent where slurmrestd lost it (22.05). */
  errorNumber?: number;
  /** Slurm's text for the number (`slurm_strerror`). */
  error?: string;
  /** slurmrestd's own explanation. */
  description?: string;
  /** The call that failed (`slurm_load_job`, `slurm_submit_batch_job`). */
  source?: string;
}

/** Slurm error numbers this plugin branches on (`slurm/slurm_errno.h`, stable across releases). */
export const SlurmErrno = {
  COMMUNICATIONS_CONNECTION_ERROR: 1001,
  COMMUNICATIONS_SEND_ERROR: 1002,
  COMMUNICATIONS_RECEIVE_ERROR: 1003,
  PROTOCOL_AUTHENTICATION_ERROR: 1007,
  SLURMCTLD_CONNECTION_ERROR: 1800,
  INVALID_PARTITION_NAME: 2000,
  DEFAULT_PARTITION_NOT_SET: 2001,
  ACCESS_DENIED: 2002,
  MISSING_REQUIRED_PARTITION_GROUP: 2003,
  TOO_MANY_REQUESTED_CPUS: 2005,
  INVALID_NODE_COUNT: 2006,
  REQUESTED_NODE_CONFIG_UNAVAILABLE: 2014,
  REQUESTED_PART_CONFIG_UNAVAILABLE: 2015,
  INVALID_JOB_ID: 2017,
  ALREADY_DONE: 2021,
  INVALID_ACCOUNT: 2045,
  ACCOUNTING_POLICY: 2050,
  INVALID_TIME_LIMIT: 2051,
  INVALID_QOS: 2066,
  INVALID_CPU_COUNT: 2069,
  PARTITION_NOT_AVAIL: 2070,
  INVALID_GRES: 2072,
  QOS_THRES: 2074,
  PARTITION_DOWN: 2101,
  INVALID_TRES: 2115,
  INVALID_GRES_TYPE: 2119,
  /** slurmctld closed the connection without a word: what 22.05 does with credentials it refuses. */
  ZERO_BYTES_TRANSMITTED: 5005,
  AUTH_CRED_INVALID: 6000,
  AUTH_EXPIRED: 6001,
} as const;

/** The `errors` (or `warnings`) of an answer, whatever the API version calls their fields. */
export function problemsOf(json: unknown, key: 'errors' | 'warnings' = 'errors'): ApiProblem[] {
  if (typeof json !== 'object' || json === null) return [];
  const list = (json as Record<string, unknown>)[key];
  if (!Array.isArray(list)) return [];
  return list.flatMap((entry): ApiProblem[] => {
    if (typeof entry !== 'object' || entry === null) return [];
    const e = entry as Record<string, unknown>;
    const number = e.error_number ?? e.error_code ?? e.errno;
    const problem: ApiProblem = {};
    if (typeof number === 'number') problem.errorNumber = number;
    if (typeof e.error === 'string' && e.error !== '') problem.error = e.error;
    if (typeof e.description === 'string' && e.description !== '') problem.description = e.description;
    if (typeof e.source === 'string' && e.source !== '') problem.source = e.source;
    return [problem];
  });
}

/** The problems in one line, as Slurm worded them (`Invalid partition name specified (2000)`). */
export function describeProblems(problems: readonly ApiProblem[]): string {
  const texts = problems
    .map((p) => {
      const words = [p.description, p.error].filter(
        (w, i, all): w is string => w !== undefined && w !== 'Unspecified error' && all.indexOf(w) === i,
      );
      const text = words.join(': ');
      const number = p.errorNumber !== undefined && p.errorNumber > 0 ? ` (${p.errorNumber})` : '';
      return text === '' ? '' : `${text}${number}`;
    })
    .filter((t) => t !== '');
  return texts.length === 0 ? 'no reason given' : texts.join('; ');
}

const SUBMIT_CODES: ReadonlyMap<number, SlurmErrorCode> = new Map([
  [SlurmErrno.INVALID_PARTITION_NAME, 'SLURM_PARTITION_UNKNOWN'],
  [SlurmErrno.DEFAULT_PARTITION_NOT_SET, 'SLURM_PARTITION_UNKNOWN'],
  [SlurmErrno.MISSING_REQUIRED_PARTITION_GROUP, 'SLURM_PARTITION_UNKNOWN'],
  [SlurmErrno.ACCESS_DENIED, 'SLURM_ACCOUNT_INVALID'],
  [SlurmErrno.INVALID_ACCOUNT, 'SLURM_ACCOUNT_INVALID'],
  [SlurmErrno.INVALID_QOS, 'SLURM_QOS_INVALID'],
  [SlurmErrno.TOO_MANY_REQUESTED_CPUS, 'SLURM_RESOURCES_UNAVAILABLE'],
  [SlurmErrno.INVALID_NODE_COUNT, 'SLURM_RESOURCES_UNAVAILABLE'],
  [SlurmErrno.REQUESTED_NODE_CONFIG_UNAVAILABLE, 'SLURM_RESOURCES_UNAVAILABLE'],
  [SlurmErrno.REQUESTED_PART_CONFIG_UNAVAILABLE, 'SLURM_RESOURCES_UNAVAILABLE'],
  [SlurmErrno.INVALID_TIME_LIMIT, 'SLURM_RESOURCES_UNAVAILABLE'],
  [SlurmErrno.INVALID_CPU_COUNT, 'SLURM_RESOURCES_UNAVAILABLE'],
  [SlurmErrno.INVALID_GRES, 'SLURM_RESOURCES_UNAVAILABLE'],
  [SlurmErrno.INVALID_GRES_TYPE, 'SLURM_RESOURCES_UNAVAILABLE'],
  [SlurmErrno.INVALID_TRES, 'SLURM_RESOURCES_UNAVAILABLE'],
  [SlurmErrno.ACCOUNTING_POLICY, 'SLURM_RESOURCES_UNAVAILABLE'],
  [SlurmErrno.QOS_THRES, 'SLURM_RESOURCES_UNAVAILABLE'],
  [SlurmErrno.PARTITION_NOT_AVAIL, 'SLURM_PARTITION_UNKNOWN'],
]);

/** Whether the answer is one about authentication rather than about the request. */
export function isAuthProblem(answer: HttpAnswer, problems: readonly ApiProblem[]): boolean {
  if (answer.status === 401 || answer.status === 403) return true;
  return problems.some(
    (p) =>
      p.errorNumber === SlurmErrno.PROTOCOL_AUTHENTICATION_ERROR ||
      p.errorNumber === SlurmErrno.AUTH_CRED_INVALID ||
      p.errorNumber === SlurmErrno.AUTH_EXPIRED,
  );
}

/** Whether the answer says slurmctld could not be reached (so the request says nothing about the job). */
export function isControllerProblem(problems: readonly ApiProblem[]): boolean {
  return problems.some(
    (p) =>
      p.errorNumber === SlurmErrno.COMMUNICATIONS_CONNECTION_ERROR ||
      p.errorNumber === SlurmErrno.COMMUNICATIONS_SEND_ERROR ||
      p.errorNumber === SlurmErrno.COMMUNICATIONS_RECEIVE_ERROR ||
      p.errorNumber === SlurmErrno.SLURMCTLD_CONNECTION_ERROR ||
      /unable to contact slurm controller|connect failure/i.test(`${p.description ?? ''} ${p.error ?? ''}`),
  );
}

/**
 * slurmrestd of 22.05 (API v0.0.38) passes the token through to slurmctld and loses Slurm's error
 * number: a rejected token and a controller that is down both answer HTTP 500 with "unable to load" and
 * error number -1. They differ in time: slurmrestd gives up on a controller that is down only after its
 * connection retries (seconds), while a rejected token is refused at once.
 */
export const CONTROLLER_RETRY_HINT_MS = 2_000;

/**
 * Pending reasons after which a job can never start: a partition limit Slurm did not enforce at
 * submission, an account or QOS it may not use. Waiting would be forever.
 */
const HOPELESS_PENDING_REASONS: ReadonlyMap<string, SlurmErrorCode> = new Map([
  ['PartitionConfig', 'SLURM_RESOURCES_UNAVAILABLE'],
  ['PartitionTimeLimit', 'SLURM_RESOURCES_UNAVAILABLE'],
  ['PartitionNodeLimit', 'SLURM_RESOURCES_UNAVAILABLE'],
  ['MaxMemPerLimit', 'SLURM_RESOURCES_UNAVAILABLE'],
  ['BadConstraints', 'SLURM_RESOURCES_UNAVAILABLE'],
  ['InvalidAccount', 'SLURM_ACCOUNT_INVALID'],
  ['AccountNotAllowed', 'SLURM_ACCOUNT_INVALID'],
  ['InvalidQOS', 'SLURM_QOS_INVALID'],
  ['QOSNotAllowed', 'SLURM_QOS_INVALID'],
]);

/**
 * The code for a job that can never start, from its pending reason. At submission Slurm may still say
 * `PartitionConfig` for an account the partition does not allow; its description names the account.
 */
export function pendingCode(pending: { reason: string; description: string }): SlurmErrorCode | undefined {
  const code = HOPELESS_PENDING_REASONS.get(pending.reason);
  if (code !== 'SLURM_RESOURCES_UNAVAILABLE') return code;
  if (/\baccount\b/i.test(pending.description)) return 'SLURM_ACCOUNT_INVALID';
  if (/\bqos\b/i.test(pending.description)) return 'SLURM_QOS_INVALID';
  return code;
}

/**
 * The error of a refused submission: the Slurm code mapped to ours, Slurm's words kept. When Slurm queued
 * the job anyway and said it cannot run, the job's pending reason says why (an account the partition
 * does not allow reads "Requested partition configuration not available now" at submission).
 */
export function submitError(
  problems: readonly ApiProblem[],
  context: Record<string, unknown>,
  pending?: { reason: string; description: string },
): SlurmError {
  const known = problems.find((p) => p.errorNumber !== undefined && SUBMIT_CODES.has(p.errorNumber));
  const byReason = pending === undefined ? undefined : pendingCode(pending);
  const code =
    byReason ??
    ((known?.errorNumber !== undefined && SUBMIT_CODES.get(known.errorNumber)) || 'SLURM_SUBMIT_FAILED');
  const why =
    pending === undefined || pending.reason === ''
      ? ''
      : `; the job waited with reason ${[pending.reason, pending.description].filter((p) => p !== '').join(': ')}`;
  return new SlurmError(code, `Slurm refused the job: ${describeProblems(problems)}${why}`, {
    details: {
      ...context,
      slurmErrors: problems,
      ...(pending === undefined ? {} : { reason: pending.reason, description: pending.description }),
    },
  });
}
