import type { JobExit, JobRecord } from '../client/records.js';
import { pendingCode } from '../client/slurm-errors.js';
import { SlurmError } from '../errors/slurm-error.js';
import type { Launch } from '../job/job-script.js';

/** Slurm's reason and its free text, as messages quote them. */
export function reasonText(job: JobRecord): string {
  const parts = [job.reason, job.description].filter((p) => p !== '');
  return parts.length === 0 ? 'no reason given' : parts.join(': ');
}

/** The error for a pending job that can never start, or undefined while it may still start. */
export function hopelessPending(job: JobRecord): SlurmError | undefined {
  if (job.state !== 'PENDING') return undefined;
  const code = pendingCode(job);
  if (code === undefined) return undefined;
  return new SlurmError(
    code,
    `job ${job.jobId} can never start in partition ${job.partition || '(default)'}: ${reasonText(job)}; it was cancelled`,
    {
      details: {
        jobId: job.jobId,
        partition: job.partition,
        reason: job.reason,
        description: job.description,
      },
    },
  );
}

/** Slurm's own messages about a step over its memory limit (polling or cgroup OOM events), on stderr. */
export const MEMORY_KILL_MARKER =
  /slurmstepd[^\n]*: error: (?:Exceeded (?:job|step) memory limit|[^\n]*exceeded memory limit|Detected \d+ oom[-_ ]kill event)/;

/** The exit of a job's batch script: its exit code, or the signal that ended it. */
export function exitOf(job: JobRecord): JobExit {
  if (job.exit !== undefined) return job.exit;
  return job.state === 'COMPLETED' ? { code: 0, signal: null } : { code: null, signal: null };
}

/** Why a job whose program never started failed: the launch file's report, else Slurm's state. */
export function startFailure(
  job: JobRecord,
  launch: Launch | undefined,
  program: string,
  stderr: string,
): SlurmError {
  const details = { jobId: job.jobId, state: job.state, reason: job.reason, node: job.batchHost };
  const said = stderr.trim() === '' ? '' : `; the job's stderr: ${stderr.trim().slice(0, 2_000)}`;
  if (launch?.kind === 'not-found') {
    return new SlurmError(
      'SLURM_SPAWN_FAILED',
      `job ${job.jobId}: cannot run ${JSON.stringify(program)} on node ${launch.node || job.batchHost}: no such program (PATH=${launch.path})`,
      { details: { ...details, program, path: launch.path } },
    );
  }
  if (launch?.kind === 'chdir') {
    return new SlurmError(
      'SLURM_SPAWN_FAILED',
      `job ${job.jobId}: cannot change to the working directory on node ${launch.node || job.batchHost}${said}`,
      { details },
    );
  }
  return endedError(job, `before its program started${said}`);
}

/** The error of a job Slurm ended for its own reasons (a node, a preemption, its time limit, a cancel). */
export function endedError(job: JobRecord, when: string): SlurmError {
  const why = reasonText(job);
  const where = job.batchHost === '' ? '' : ` on node ${job.batchHost}`;
  switch (job.state) {
    case 'NODE_FAIL':
      return new SlurmError(
        'SLURM_NODE_FAILED',
        `job ${job.jobId}: its node failed${where} ${when} (${why})`,
        {
          details: { jobId: job.jobId, state: job.state, reason: job.reason, node: job.batchHost },
        },
      );
    case 'PREEMPTED':
      return new SlurmError('SLURM_PREEMPTED', `job ${job.jobId} was preempted${where} ${when} (${why})`, {
        details: { jobId: job.jobId, state: job.state, reason: job.reason },
      });
    case 'TIMEOUT':
    case 'DEADLINE':
      return new SlurmError(
        'SLURM_TIME_LIMIT',
        `job ${job.jobId} reached its Slurm time limit${where} ${when} (${job.state}: ${why})`,
        {
          details: { jobId: job.jobId, state: job.state, reason: job.reason },
        },
      );
    case 'CANCELLED':
      return new SlurmError(
        'SLURM_JOB_CANCELLED',
        `job ${job.jobId} was cancelled outside Beamline (scancel or an administrator)${where} ${when} (${why})`,
        { details: { jobId: job.jobId, state: job.state, reason: job.reason } },
      );
    default:
      return new SlurmError(
        'SLURM_JOB_FAILED',
        `job ${job.jobId} ${job.state === '' ? 'ended' : job.state}${where} ${when} (${why})`,
        {
          details: { jobId: job.jobId, state: job.state, reason: job.reason },
        },
      );
  }
}
