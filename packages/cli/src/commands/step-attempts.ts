import { escapeText, type ErrorInfo, type StepState, type Store } from '@beamline/core';
import { PostgresStore } from '@beamline/plugin-postgres';

/** One attempt of a step, from the run's event log (and, for a queued step, the queue's job record). */
export interface StepAttempt {
  attempt: number;
  /** Epoch ms of its `started` event. */
  startedAt: number;
  /** Epoch ms of its end, once it ended. */
  endedAt?: number;
  /** `retried` when it failed and the step was tried again. */
  status: 'running' | 'succeeded' | 'failed' | 'retried' | 'cancelled';
  /** The machine it ran on. */
  host?: string;
  /** The queue worker that held it (distributed mode). */
  worker?: string;
  /** The queue's job (distributed mode) or a cluster's job id. */
  jobId?: string;
  error?: ErrorInfo;
}

/**
 * Whether a step is a dead letter: it failed with an error that would have been retried, so it failed
 * because its retries were spent (an error that is not retryable fails a step at once: that is a plain
 * failure).
 */
export function isDeadLetter(step: StepState): boolean {
  return step.status === 'failed' && step.error?.retryable === true;
}

/** Every attempt of a step in order, with where it ran and how it ended. */
export async function readStepAttempts(store: Store, runId: string, stepId: string): Promise<StepAttempt[]> {
  const attempts = new Map<number, StepAttempt>();
  const of = (attempt: number, time: number): StepAttempt => {
    let entry = attempts.get(attempt);
    if (entry === undefined) attempts.set(attempt, (entry = { attempt, startedAt: time, status: 'running' }));
    return entry;
  };
  for await (const event of store.readEvents(runId, {
    stepId,
    types: ['started', 'process', 'retrying', 'failed', 'succeeded', 'cancelled'],
  })) {
    if (event.type === 'started') {
      of(event.attempt, event.time);
    } else if (event.type === 'process') {
      const entry = of(event.attempt, event.time);
      entry.host = event.process.node ?? event.process.host;
      if (event.process.jobId !== undefined) entry.jobId = event.process.jobId;
    } else if (event.type === 'retrying' || event.type === 'failed') {
      Object.assign(of(event.attempt, event.time), {
        status: event.type === 'retrying' ? 'retried' : 'failed',
        endedAt: event.time,
        error: event.error,
      });
    } else if (event.type === 'succeeded') {
      Object.assign(of(event.attempt, event.time), { status: 'succeeded', endedAt: event.time });
    } else if (event.type === 'cancelled') {
      // A step cancelled between attempts has no running one.
      for (const entry of attempts.values()) {
        if (entry.status === 'running') Object.assign(entry, { status: 'cancelled', endedAt: event.time });
      }
    }
  }
  const list = [...attempts.values()].sort((a, b) => a.attempt - b.attempt);
  // On a shared queue, the job record names the worker that held each attempt.
  const jobIds = list.flatMap((entry) => (entry.jobId === undefined ? [] : [entry.jobId]));
  if (store instanceof PostgresStore && jobIds.length > 0) {
    const jobs = new Map((await store.queueJobs(jobIds)).map((job) => [job.id, job]));
    for (const entry of list) {
      const job = entry.jobId === undefined ? undefined : jobs.get(entry.jobId);
      if (job?.worker !== undefined) entry.worker = job.worker;
      if (job?.host !== undefined) entry.host = job.host;
    }
  }
  return list;
}

/** One attempt as `show` prints it: `attempt 2  worker w1  host h1  job 1a2b3c4d  CODE: message`. */
export function formatAttempt(entry: StepAttempt): string {
  const parts = [`attempt ${entry.attempt}`, entry.status];
  // Worker names and messages come from other machines: nothing in them reaches the terminal as control.
  if (entry.worker !== undefined) parts.push(`worker ${escapeText(entry.worker)}`);
  if (entry.host !== undefined) parts.push(`host ${escapeText(entry.host)}`);
  if (entry.jobId !== undefined) parts.push(`job ${escapeText(entry.jobId.slice(0, 8))}`);
  if (entry.error !== undefined) parts.push(escapeText(`${entry.error.code}: ${entry.error.message}`));
  return parts.join('  ');
}
