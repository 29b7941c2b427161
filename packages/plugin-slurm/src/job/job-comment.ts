import type { RunOwner } from '@beamline/core';

/** What a job's comment records: whose job it is, for the janitor and for resume. */
export interface JobMark {
  /** The runner's project (janitor scope). */
  project: string;
  /** Unique per submission: finds the job again when the answer to the submission was lost. */
  submission: string;
  /** The process that submitted it (pid, host, boot id, start time), as core records a run's owner. */
  owner: RunOwner;
  run?: string;
  step?: string;
}

const PREFIX = 'beamline:1 ';
/** Slurm refuses a comment longer than this (`_test_strlen(comment, 1024)` in slurmctld). */
const MAX_COMMENT = 1024;

/** JSON with every non-ASCII character escaped, so the comment survives any locale on the way. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** The job comment: a prefix and the mark as JSON, run and step shortened if Slurm's limit needs it. */
export function encodeJobMark(mark: JobMark): string {
  const full = PREFIX + asciiJson(mark);
  if (full.length <= MAX_COMMENT) return full;
  const short: JobMark = { ...mark };
  // The owner and the submission id are what the janitor and resume need; run and step are for people.
  for (const key of ['step', 'run'] as const) {
    const value = short[key];
    if (value === undefined) continue;
    const over = PREFIX.length + asciiJson(short).length - MAX_COMMENT;
    if (over <= 0) break;
    // Escaped characters take up to six places each, so cutting `over` characters always makes room.
    short[key] = value.length > over + 3 ? `${value.slice(0, value.length - over - 3)}...` : '...';
  }
  const shortened = PREFIX + asciiJson(short);
  return shortened.length <= MAX_COMMENT
    ? shortened
    : PREFIX + asciiJson({ ...short, run: '...', step: '...' });
}

/** The mark in a job's comment, or undefined when the job is not one of Beamline's. */
export function decodeJobMark(comment: string): JobMark | undefined {
  if (!comment.startsWith(PREFIX)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(comment.slice(PREFIX.length));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const owner = v.owner as Record<string, unknown> | undefined;
  if (
    typeof v.project !== 'string' ||
    typeof v.submission !== 'string' ||
    typeof owner !== 'object' ||
    owner === null ||
    typeof owner.pid !== 'number' ||
    typeof owner.host !== 'string'
  ) {
    return undefined;
  }
  return {
    project: v.project,
    submission: v.submission,
    owner: {
      pid: owner.pid,
      host: owner.host,
      ...(typeof owner.bootId === 'string' ? { bootId: owner.bootId } : {}),
      ...(typeof owner.startTime === 'number' ? { startTime: owner.startTime } : {}),
    },
    ...(typeof v.run === 'string' ? { run: v.run } : {}),
    ...(typeof v.step === 'string' ? { step: v.step } : {}),
  };
}

/** The job name: `beamline/<run>/<step>` (or the given name), printable and within Slurm's 1024 characters. */
export function jobName(run: string | undefined, step: string | undefined, fallback: string): string {
  const parts = run !== undefined && step !== undefined ? `beamline/${run}/${step}` : `beamline/${fallback}`;
  // eslint-disable-next-line no-control-regex
  const printable = parts.replace(/[\u0000-\u001f\u007f]/g, '?');
  return printable.length <= 1024 ? printable : `${printable.slice(0, 1023)}…`;
}
