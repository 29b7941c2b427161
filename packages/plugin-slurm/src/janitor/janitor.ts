import { recordedProcessGone, type RunOwner } from '@beamline/core';
import { hostname } from 'node:os';
import { hasEnded } from '../client/records.js';
import type { SlurmClient } from '../client/slurm-client.js';
import { decodeJobMark } from '../job/job-comment.js';

/** What the janitor did with one job. */
export interface SlurmJanitorEntry {
  jobId: number;
  name: string;
  state: string;
  /** `cancelled`, `kept` (owner alive), `reported` (owned by a process on another host), or `failed`. */
  action: 'cancelled' | 'kept' | 'reported' | 'failed';
  why: string;
}

/** The janitor's report. Failures are listed, never thrown: clean-up must not stop a runtime from starting. */
export interface SlurmJanitorReport {
  cancelled: SlurmJanitorEntry[];
  kept: SlurmJanitorEntry[];
  reported: SlurmJanitorEntry[];
  failed: SlurmJanitorEntry[];
}

/** Options of {@link runJanitor}. */
export interface SlurmJanitorOptions {
  /** Only jobs whose Beamline mark names this project. */
  project: string;
  /** Only jobs of this Slurm user (the one the runner submits as). */
  user: string;
  /** This host's name (default `os.hostname()`). */
  host?: string;
  /** Whether the recorded owner process on this host is certainly gone; default core's `recordedProcessGone`. */
  isGone?: (owner: RunOwner) => boolean;
  /** Waits until a cancelled job has left its node. */
  waitGone?: (jobId: number) => Promise<void>;
}

/**
 * Cancels this owner's orphaned jobs, and only those: a job is touched only when its Slurm user is this
 * runner's user, its comment carries Beamline's mark of this project, and the process that submitted it
 * (recorded in the mark: pid, host, boot id, start time) is certainly gone from this host, as after a
 * `kill -9` of the pipeline. Jobs whose submitter is alive are a pipeline at work; jobs submitted from
 * another host are reported, since their submitter cannot be checked from here. Other users' jobs are
 * never looked at beyond their user name, whatever their comment says.
 */
export async function runJanitor(
  client: SlurmClient,
  options: SlurmJanitorOptions,
): Promise<SlurmJanitorReport> {
  const host = options.host ?? hostname();
  const isGone = options.isGone ?? ((owner: RunOwner) => recordedProcessGone(owner, host));
  const report: SlurmJanitorReport = { cancelled: [], kept: [], reported: [], failed: [] };
  const jobs = await client.jobs();
  for (const job of jobs) {
    if (job.user !== options.user || hasEnded(job)) continue;
    const mark = decodeJobMark(job.comment);
    if (mark === undefined || mark.project !== options.project) continue;
    const entry = (action: SlurmJanitorEntry['action'], why: string): SlurmJanitorEntry => ({
      jobId: job.jobId,
      name: job.name,
      state: job.state,
      action,
      why,
    });
    if (mark.owner.host !== host) {
      report.reported.push(
        entry('reported', `submitted from host ${mark.owner.host}, which this janitor cannot check`),
      );
      continue;
    }
    if (!isGone(mark.owner)) {
      report.kept.push(entry('kept', `its pipeline process ${mark.owner.pid} is alive`));
      continue;
    }
    try {
      await client.cancel(job.jobId);
      await options.waitGone?.(job.jobId);
      report.cancelled.push(
        entry('cancelled', `${job.state.toLowerCase()}, its pipeline process ${mark.owner.pid} is gone`),
      );
    } catch (error) {
      report.failed.push(entry('failed', error instanceof Error ? error.message : String(error)));
    }
  }
  return report;
}
