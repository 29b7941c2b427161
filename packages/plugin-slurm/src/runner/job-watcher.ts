import type { SlurmClient } from '../client/slurm-client.js';
import type { JobRecord } from '../client/records.js';

/** What one poll found out about a job: its record, that Slurm no longer knows it, or why nothing is known. */
export type JobUpdate =
  { type: 'record'; job: JobRecord } | { type: 'missing' } | { type: 'error'; error: unknown };

interface Watched {
  jobId: number;
  since: number;
  nextAt: number;
  /** Asked for a poll as soon as possible (after a signal, near the end). */
  urgent: boolean;
  deliver(update: JobUpdate): void;
}

/** Options of a {@link JobWatcher}. */
export interface JobWatcherOptions {
  /** Longest time between two polls of a job that has been running a while; default 2 s. */
  maxIntervalMs?: number;
  /** From this many due jobs on, one job list is read instead of each job; default 8. */
  listThreshold?: number;
}

/**
 * Polls the state of every job a runner follows, in one loop: a job is polled often while it is young
 * (Slurm starts a batch job on a tick of about a second, and a short step should not wait for a slow
 * poll) and less often as it ages, up to `maxIntervalMs`; many due jobs are read with one job list
 * instead of one request each. Nothing is polled while no job is followed.
 */
export class JobWatcher {
  private readonly watched = new Map<number, Watched>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private readonly maxIntervalMs: number;
  private readonly listThreshold: number;

  constructor(
    private readonly client: SlurmClient,
    options: JobWatcherOptions = {},
  ) {
    this.maxIntervalMs = options.maxIntervalMs ?? 2_000;
    this.listThreshold = options.listThreshold ?? 8;
  }

  /** Follows a job: `deliver` gets every poll's result until `unwatch`. */
  watch(jobId: number, deliver: (update: JobUpdate) => void): { unwatch(): void; hurry(): void } {
    const now = Date.now();
    const entry: Watched = { jobId, since: now, nextAt: now + this.interval(0), urgent: false, deliver };
    this.watched.set(jobId, entry);
    this.schedule();
    return {
      unwatch: () => {
        if (this.watched.get(jobId) === entry) this.watched.delete(jobId);
        if (this.watched.size === 0) this.stop();
      },
      hurry: () => {
        entry.urgent = true;
        entry.nextAt = Date.now();
        this.schedule();
      },
    };
  }

  /** Stops polling (jobs still watched are not told anything more). */
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** How long after a poll a job of this age is polled again. */
  private interval(ageMs: number): number {
    if (ageMs < 5_000) return 100;
    if (ageMs < 30_000) return 250;
    if (ageMs < 120_000) return 500;
    return this.maxIntervalMs;
  }

  private schedule(): void {
    if (this.polling || this.watched.size === 0) return;
    const next = Math.min(...[...this.watched.values()].map((w) => w.nextAt));
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.poll(), Math.max(0, next - Date.now()));
    // Polling never keeps a process alive on its own: the jobs' own work does.
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    this.timer = undefined;
    this.polling = true;
    try {
      const now = Date.now();
      const due = [...this.watched.values()].filter((w) => w.nextAt <= now);
      for (const w of due) w.urgent = false;
      if (due.length >= this.listThreshold) await this.pollList(due);
      else await Promise.all(due.map((w) => this.pollOne(w)));
      const after = Date.now();
      for (const w of due) if (!w.urgent) w.nextAt = after + this.interval(after - w.since);
    } finally {
      this.polling = false;
      this.schedule();
    }
  }

  private async pollOne(w: Watched): Promise<void> {
    let update: JobUpdate;
    try {
      const job = await this.client.job(w.jobId);
      update = job === undefined ? { type: 'missing' } : { type: 'record', job };
    } catch (error) {
      update = { type: 'error', error };
    }
    this.deliver(w, update);
  }

  private async pollList(due: readonly Watched[]): Promise<void> {
    let jobs: JobRecord[];
    try {
      jobs = await this.client.jobs();
    } catch (error) {
      for (const w of due) this.deliver(w, { type: 'error', error });
      return;
    }
    const byId = new Map(jobs.map((j) => [j.jobId, j]));
    // A job missing from the list is asked for on its own: that answer tells "purged" from "not listed".
    const unlisted: Promise<void>[] = [];
    for (const w of due) {
      const job = byId.get(w.jobId);
      if (job === undefined) unlisted.push(this.pollOne(w));
      else this.deliver(w, { type: 'record', job });
    }
    await Promise.all(unlisted);
  }

  private deliver(w: Watched, update: JobUpdate): void {
    if (this.watched.get(w.jobId) !== w) return;
    try {
      w.deliver(update);
    } catch {
      // A follower's failure is its own; the loop goes on for the others.
    }
  }
}
