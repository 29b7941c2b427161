import {
  currentProcessIdentity,
  DEFAULT_KILL_GRACE_MS,
  inject,
  injectable,
  parseDuration,
  Tokens,
  type EventSink,
  type ExecOptions,
  type OrphanOutcome,
  type ProcessEvent,
  type ProcessSpec,
  type Runner,
  type RunnerIdentityRequest,
  type RunOwner,
  type RuntimeConfig,
  type StepProcess,
} from '@beamline/core';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { defer, Observable } from 'rxjs';
import type { JobRecord } from '../client/records.js';
import { isGone } from '../client/records.js';
import { SlurmClient, type JobSubmission, type SlurmConnectionOptions } from '../client/slurm-client.js';
import { isSlurmError, SlurmError } from '../errors/slurm-error.js';
import { runJanitor, type SlurmJanitorReport } from '../janitor/janitor.js';
import { decodeJobMark, encodeJobMark, jobName } from '../job/job-comment.js';
import {
  jobEnvironment,
  jobResources,
  refuseUnsupported,
  type EnvironmentExport,
} from '../job/job-request.js';
import { jobScript, type JobFiles } from '../job/job-script.js';
import { checkPartitionLimits, type ClusterLayout } from '../job/partition-limits.js';
import { SlurmOptionsToken } from '../tokens.js';
import { JobRun } from './job-run.js';
import { JobWatcher } from './job-watcher.js';

/** The labels core's engine attaches to a step's work (`STEP_LABELS`). */
const RUN_LABEL = 'beamline.run';
const STEP_LABEL = 'beamline.step';

/** Options of one Slurm runner (one cluster). */
export interface SlurmRunnerOptions extends SlurmConnectionOptions {
  /** The runner name a step picks (`runner: slurm`); default `slurm`. One name per cluster. */
  name?: string;
  /** Partition (`--partition`); default the cluster's default partition. */
  partition?: string;
  /** Account (`--account`). */
  account?: string;
  /** Quality of service (`--qos`). */
  qos?: string;
  /** Further job fields for every job, as slurmrestd names them (`{ constraints: 'a100' }`). */
  jobOptions?: Readonly<Record<string, unknown>>;
  /** Project id: the janitor only touches this project's jobs. Default `beamline`. */
  project?: string;
  /**
   * Where job scripts write their output: a folder on the filesystem the cluster's nodes share with
   * this machine. Default `<runtime cwd>/.beamline/slurm` (or `<process cwd>/…` without a runtime).
   */
  outputDir?: string;
  /**
   * What of this process's environment a job gets besides the step's variables: `minimal` (PATH, HOME,
   * USER, LANG, LC_*, TZ; the default), `all` (as sbatch's `--export=ALL`) or a list of names.
   * `SLURM_JWT` is never passed on.
   */
  environment?: EnvironmentExport;
  /** Working directory when a spec names none; default the runtime's working directory. */
  cwd?: string;
  /** `--time` for a step without a timeout (`2h`, or ms); default the partition's default time. */
  defaultTimeLimit?: string | number;
  /** Grace between SIGTERM and cancelling the job when a spec gives none; default 10 s. */
  killGraceMs?: number;
  /** Check a job against its partition's limits before submitting it; default true. */
  checkPartitionLimits?: boolean;
  /** Longest time between polls of a long-running job's state; default 2 s. */
  pollIntervalMs?: number;
  /** How long Slurm may stay unreachable while a job runs before its step fails; default 10 min. */
  unreachableTimeoutMs?: number;
  /** An existing client (shared between runners, or for tests). */
  client?: SlurmClient;
}

/** How long the partition layout read for the limit check is reused. */
const LAYOUT_TTL_MS = 60_000;
/** How long `stopOrphaned` and the janitor wait for a cancelled job to leave its node. */
const GONE_WAIT_MS = 120_000;

/**
 * The core `Runner` for Slurm clusters (name `slurm`): each `exec` is one batch job submitted through
 * slurmrestd's REST API. The step's resources become `--cpus-per-task`, `--mem`, `--gres=gpu:N` and
 * `--time` (from its timeout); partition, account and QOS come from the options. The job's output files
 * on the shared filesystem stream back as stdout/stderr, its exit comes from the job record, and a stop
 * goes through the REST API with the job confirmed gone before `exit`. Jobs carry a name and a comment
 * that identify the run, the step and the submitting process, so the janitor can cancel this owner's
 * orphans (and nobody else's).
 *
 * In a runtime the Slurm plugin has the container build it; without one: `new SlurmRunner({ url })`.
 */
@injectable()
export class SlurmRunner implements Runner {
  readonly name: string;
  readonly client: SlurmClient;
  /** Where a step's work is placed: by the cluster's scheduler, not this host's resource pool. */
  readonly placement = 'remote' as const;
  private readonly options: SlurmRunnerOptions;
  private readonly watcher: JobWatcher;
  private readonly outputDir: string;
  private readonly defaultCwd: string;
  private readonly owner: RunOwner = currentProcessIdentity();
  private readonly pending = new Set<Promise<unknown>>();
  private layout: { at: number; value: Promise<ClusterLayout | undefined> } | undefined;

  constructor(
    @inject(SlurmOptionsToken) options: SlurmRunnerOptions,
    @inject(Tokens.Config) config?: Pick<RuntimeConfig, 'cwd'>,
    @inject(Tokens.Events) private readonly events?: EventSink,
  ) {
    this.options = options;
    this.name = options.name ?? 'slurm';
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(this.name)) {
      throw new SlurmError(
        'SLURM_CONFIG_INVALID',
        `runner name ${JSON.stringify(this.name)}: use letters, digits, '.', '_' and '-'`,
      );
    }
    this.client = options.client ?? new SlurmClient(options);
    this.watcher = new JobWatcher(this.client, { maxIntervalMs: options.pollIntervalMs ?? 2_000 });
    const base = config?.cwd ?? process.cwd();
    this.outputDir = path.resolve(base, options.outputDir ?? path.join('.beamline', 'slurm'));
    this.defaultCwd = path.resolve(base, options.cwd ?? '.');
  }

  /** The cluster and the submission settings: a step run elsewhere or differently is a different result. */
  identity(_request: RunnerIdentityRequest): Promise<string> {
    const o = this.options;
    return Promise.resolve(
      `slurm:${this.client.address}:${o.partition ?? '(default)'}:${o.account ?? ''}:${o.qos ?? ''}`,
    );
  }

  /** Runs a ProcessSpec as a batch job (argv exactly, no shell added). */
  exec(spec: ProcessSpec, options: ExecOptions = {}): Observable<ProcessEvent> {
    return defer(() => {
      refuseUnsupported(spec);
      return new Observable<ProcessEvent>((subscriber) => {
        const submission = randomUUID();
        const files = jobFiles(this.outputDir, submission);
        const run = spec.labels?.[RUN_LABEL];
        const step = spec.labels?.[STEP_LABEL];
        const name = jobName(run, step, spec.name ?? path.basename(spec.argv[0] ?? 'job'));
        const killGraceMs = spec.killGraceMs ?? this.options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
        const timeoutMs = spec.timeoutMs;
        const job = new JobRun(
          {
            client: this.client,
            watcher: this.watcher,
            unreachableTimeoutMs: this.options.unreachableTimeoutMs ?? 600_000,
            track: (work) => this.track(work),
          },
          {
            files,
            program: spec.argv[0] ?? '',
            killGraceMs,
            ...(timeoutMs === undefined ? {} : { timeoutMs }),
            prepare: () =>
              this.submission(spec, files, {
                name,
                comment: encodeJobMark({
                  project: this.project,
                  submission,
                  owner: this.owner,
                  ...(run === undefined ? {} : { run }),
                  ...(step === undefined ? {} : { step }),
                }),
                killGraceMs,
              }),
          },
          options,
          subscriber,
          name,
        );
        let done = false;
        const work = job.run().then(
          () => {
            done = true;
            subscriber.complete();
          },
          (error: unknown) => {
            done = true;
            subscriber.error(error);
          },
        );
        return () => {
          if (done) return;
          // Unsubscribed before the exit: stop as a last resort; the job is still followed until gone.
          job.stop('cancelled');
          this.track(work);
        };
      });
    });
  }

  /**
   * Stops what a step left running when its engine died (`kill -9`): the recorded job is cancelled and
   * awaited until it is gone, if it is this runner's (same cluster user, same project). Core's `resume`
   * calls this before the step runs again, so the step never runs twice side by side.
   */
  async stopOrphaned(recorded: StepProcess): Promise<OrphanOutcome> {
    const jobId = Number(recorded.jobId);
    if (!Number.isSafeInteger(jobId) || jobId <= 0) return 'unchecked';
    const job = await this.client.job(jobId);
    if (job === undefined || isGone(job)) return 'gone';
    if (!(await this.owns(job))) return 'unchecked';
    await this.client.cancel(jobId);
    await this.waitGone(jobId);
    return 'stopped';
  }

  /** Cancels this owner's orphaned jobs of this project (see `runJanitor`). */
  async janitor(): Promise<SlurmJanitorReport> {
    return runJanitor(this.client, {
      project: this.project,
      user: await this.client.userName(),
      waitGone: (jobId) => this.waitGone(jobId),
    });
  }

  /** Waits for clean-up still running after streams were unsubscribed (jobs being cancelled), then closes connections. */
  async dispose(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    this.watcher.stop();
    this.client.close();
  }

  private get project(): string {
    return this.options.project ?? 'beamline';
  }

  private track(work: Promise<unknown>): void {
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  }

  /** Whether a job is one this runner may stop: its user and a Beamline mark of this project. */
  private async owns(job: JobRecord): Promise<boolean> {
    const mark = decodeJobMark(job.comment);
    return mark !== undefined && mark.project === this.project && job.user === (await this.client.userName());
  }

  private async waitGone(jobId: number): Promise<void> {
    const deadline = Date.now() + GONE_WAIT_MS;
    for (let delay = 100; Date.now() < deadline; delay = Math.min(delay * 2, 1_000)) {
      const job = await this.client.job(jobId).catch((error: unknown) => {
        if (isSlurmError(error) && error.retryable) return 'retry' as const;
        throw error;
      });
      if (job === undefined || (job !== 'retry' && isGone(job))) return;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
    throw new SlurmError(
      'SLURM_API_ERROR',
      `job ${jobId} was cancelled but is still on its node after ${GONE_WAIT_MS / 1000} s`,
      {
        details: { jobId },
      },
    );
  }

  /** The job as submitted: resources, environment, script; checked against its partition. */
  private async submission(
    spec: ProcessSpec,
    files: JobFiles,
    mark: { name: string; comment: string; killGraceMs: number },
  ): Promise<JobSubmission> {
    const o = this.options;
    const limitMs = spec.timeoutMs ?? spec.timeLimitMs ?? defaultLimit(o.defaultTimeLimit);
    const resources = jobResources(spec, limitMs, mark.killGraceMs);
    let timeLimitMinutes = resources.timeLimitMinutes;
    if (o.checkPartitionLimits !== false) {
      const layout = await this.clusterLayout();
      if (layout !== undefined) ({ timeLimitMinutes } = checkPartitionLimits(layout, o.partition, resources));
    }
    const cwd = spec.cwd ?? this.defaultCwd;
    return {
      script: jobScript(spec.argv, cwd, files, mark.name),
      name: mark.name,
      comment: mark.comment,
      cwd,
      stdout: files.stdout,
      stderr: files.stderr,
      environment: jobEnvironment(spec, o.environment ?? 'minimal'),
      ...(o.partition === undefined ? {} : { partition: o.partition }),
      ...(o.account === undefined ? {} : { account: o.account }),
      ...(o.qos === undefined ? {} : { qos: o.qos }),
      ...(resources.cpusPerTask === undefined ? {} : { cpusPerTask: resources.cpusPerTask }),
      ...(resources.memoryMb === undefined ? {} : { memoryMb: resources.memoryMb }),
      ...(resources.gpus === undefined ? {} : { gpus: resources.gpus }),
      ...(timeLimitMinutes === undefined ? {} : { timeLimitMinutes }),
      ...(o.jobOptions === undefined ? {} : { extra: o.jobOptions }),
    };
  }

  /** Partitions and nodes, read at most once a minute; undefined (no check) when Slurm will not say. */
  private clusterLayout(): Promise<ClusterLayout | undefined> {
    if (this.layout !== undefined && Date.now() - this.layout.at < LAYOUT_TTL_MS) return this.layout.value;
    const value = Promise.all([this.client.partitions(), this.client.nodes()]).then(
      ([partitions, nodes]) => ({ partitions, nodes }),
      (error: unknown) => {
        // Authentication and reachability problems are the submission's to report; anything else only
        // means the limits cannot be checked here, and Slurm still checks at submission.
        if (isSlurmError(error) && error.code !== 'SLURM_API_ERROR') {
          this.layout = undefined;
          throw error;
        }
        this.events?.emit({
          level: 'warning',
          source: `runner.${this.name}`,
          message: `could not read the partitions' limits, so jobs are submitted unchecked: ${error instanceof Error ? error.message : String(error)}`,
        });
        return undefined;
      },
    );
    this.layout = { at: Date.now(), value };
    return value;
  }
}

function jobFiles(outputDir: string, submission: string): JobFiles {
  const dir = path.join(outputDir, submission);
  return {
    dir,
    stdout: path.join(dir, 'stdout'),
    stderr: path.join(dir, 'stderr'),
    launch: path.join(dir, 'launch'),
  };
}

function defaultLimit(value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'number' ? value : parseDuration(value);
}
