import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { Observable, type Subscriber, type TeardownLogic } from 'rxjs';
import { injectable } from '../di/tsyringe.js';
import { z } from 'zod';
import type { Command, CommandContext, StepEvent } from '../contracts/command.js';
import type { ProcessEvent, ProcessFiles, ProcessSpec, RunnerIdentityRequest } from '../contracts/runner.js';
import { isBeamlineError } from '../errors/beamline-error.js';
import { CoreError } from '../errors/core-error.js';
import { setOwn } from '../util/own-keys.js';
import { collectArtifacts } from './collect-artifacts.js';
import { LineChunker } from './line-splitter.js';
import { LogBuffer } from './log-buffer.js';
import { scanMarkers, type StepMarker } from './step-markers.js';

/** Where the host work directory appears inside a container when `image` is set. */
export const CONTAINER_WORKDIR = '/workspace';

/** How many stderr lines a failure message quotes. */
const STDERR_TAIL_LINES = 20;
/** Stderr bytes kept for the failure message; generous enough for 20 long lines, small enough to ignore. */
const STDERR_TAIL_BYTES = 16 * 1024;

const glob = z.string().min(1);

/** Parameters of the `exec` command (`with:` of a step that `uses: exec`). */
export const execParamsSchema = z
  .object({
    /** An argv array (no shell), or a string run as `sh -c <string>`. */
    command: z.union([
      z.string().min(1),
      z
        .array(z.string())
        .min(1)
        .refine((argv) => argv[0] !== '', { message: 'the program (first element) must not be empty' }),
    ]),
    /** Extra environment variables. */
    env: z.record(z.string(), z.string()).optional(),
    /** Working directory, relative to the run's work directory (default: that directory); created if missing. */
    workdir: z.string().min(1).optional(),
    /**
     * Image to run in; needs a container runner. The work directory is mounted at `/workspace`. `null`
     * means none, so a pipeline can choose per run (`image: ${{ params.image }}` with a null default).
     */
    image: z.string().min(1).nullish(),
    /**
     * Files of the run's folder the command reads that no earlier step made (scripts, data next to the
     * pipeline): globs relative to `workdir`. A runner that runs the step where the run's folder is not
     * mounted sends them along (`ProcessSpec.files.reads`); elsewhere they change nothing.
     */
    inputs: z.array(glob).min(1).optional(),
    /** Files to collect as artifacts: a list of globs, or output name → glob or globs. */
    outputs: z
      .union([
        z.array(glob),
        z
          .record(z.string().min(1), z.union([glob, z.array(glob).min(1)]))
          .refine((record) => !('exitCode' in record), {
            message: "'exitCode' is reserved for the exit code",
          }),
      ])
      .optional(),
  })
  .strict();

/** The validated parameters of the `exec` command. */
export type ExecParams = z.output<typeof execParamsSchema>;

/**
 * The built-in `exec` command: runs a program through the step's runner, streams its output as `log`
 * events in chunks of whole lines (coalesced up to 127 KiB or 50 ms), turns `::metric`, `::progress`
 * and `::output` marker lines on stdout into events and outputs, and on success collects the declared
 * output files as artifacts.
 *
 * Outputs: `exitCode`, each named output (absolute path, or paths for several matches), and the values
 * of `::output name=value` lines (JSON-parsed when they parse).
 */
@injectable()
export class ExecCommand implements Command<ExecParams> {
  readonly name = 'exec';
  readonly version = '1';
  readonly description = 'Run a program or shell command, collecting its logs, metrics and output files';
  readonly params = execParamsSchema;

  /** The step's image, so a rebuilt image under the same tag re-runs the step; else the plain runner. */
  runnerIdentity(params: ExecParams): RunnerIdentityRequest {
    return typeof params.image === 'string' ? { image: params.image } : {};
  }

  execute(ctx: CommandContext, params: ExecParams): Observable<StepEvent> {
    return new Observable<StepEvent>((subscriber) => {
      const hostWorkdir = resolve(ctx.workdir, params.workdir ?? '.');
      try {
        // A step may name a directory it is about to fill (and a bind mount needs its source to exist).
        mkdirSync(hostWorkdir, { recursive: true });
      } catch (error) {
        subscriber.error(
          new CoreError(
            'CORE_SPAWN_FAILED',
            `Step '${ctx.stepId}': cannot create the work directory ${hostWorkdir}`,
            {
              cause: error,
              details: { workdir: hostWorkdir },
            },
          ),
        );
        return;
      }
      return new ExecAttempt(ctx, params, hostWorkdir, subscriber).start();
    });
  }
}

type ExitEvent = Extract<ProcessEvent, { type: 'exit' }>;

/**
 * One attempt of an `exec` step, from the runner's subscription to the step's outputs: output becomes
 * `log` events and markers, the exit becomes success (outputs collected) or a coded failure.
 */
class ExecAttempt {
  private readonly chunkers = { stdout: new LineChunker(), stderr: new LineChunker() };
  private readonly markerOutputs: Record<string, unknown> = {};
  private readonly stderrTail = new ByteTail(STDERR_TAIL_BYTES);
  /** Output stays bytes until a log event is emitted: it is decoded once per event. */
  private readonly logs: LogBuffer;
  /** Aborts hashing of output files still in progress when the subscriber leaves. */
  private readonly collection = new AbortController();
  private exit: ExitEvent | undefined;

  constructor(
    private readonly ctx: CommandContext,
    private readonly params: ExecParams,
    private readonly hostWorkdir: string,
    private readonly subscriber: Subscriber<StepEvent>,
  ) {
    this.logs = new LogBuffer((stream, text) => subscriber.next({ type: 'log', stream, text }));
  }

  /** Subscribes to the runner; returns the teardown. */
  start(): TeardownLogic {
    const spec = processSpec(this.ctx, this.params, this.hostWorkdir);
    const subscription = this.ctx.runner.exec(spec, { signal: this.ctx.signal }).subscribe({
      next: (event) => this.onProcessEvent(event),
      error: (error: unknown) => this.subscriber.error(error),
      complete: () => this.onRunnerComplete(),
    });
    return () => {
      // Stops the process (the runner's teardown) and any hashing still in progress.
      subscription.unsubscribe();
      this.collection.abort();
      this.logs.dispose();
    };
  }

  private onProcessEvent(event: ProcessEvent): void {
    switch (event.type) {
      case 'started':
        return;
      case 'stdout':
      case 'stderr':
        this.log(event.type, this.chunkers[event.type].push(event.data));
        return;
      case 'exit':
        this.onExit(event);
        return;
    }
  }

  /** Whole lines of one stream: logged, stderr kept for a failure message, stdout scanned for markers. */
  private log(stream: 'stdout' | 'stderr', chunks: readonly Buffer[] | undefined): void {
    if (chunks === undefined) return;
    this.logs.add(stream, chunks);
    if (stream === 'stderr') {
      for (const chunk of chunks) this.stderrTail.add(chunk);
      return;
    }
    let markers: StepMarker[] = [];
    for (const chunk of chunks) {
      const found = scanMarkers(chunk);
      if (found.length > 0) markers = markers.concat(found);
    }
    if (markers.length === 0) return;
    // The marker lines reach the log before the events they stand for.
    this.logs.flush();
    for (const marker of markers) {
      // A program names its outputs: `::output __proto__=…` is kept like any other name.
      if (marker.type === 'output') setOwn(this.markerOutputs, marker.name, marker.value);
      else this.subscriber.next(marker);
    }
  }

  /** The process is gone: what is left of an unfinished last line is logged now. */
  private onExit(event: ExitEvent): void {
    this.exit = event;
    const rest = { stdout: this.chunkers.stdout.flush(), stderr: this.chunkers.stderr.flush() };
    this.log('stdout', rest.stdout && [rest.stdout]);
    this.log('stderr', rest.stderr && [rest.stderr]);
    this.logs.flush();
  }

  /**
   * The step ends when the runner's stream completes, not at its exit event: only then is the process or
   * container confirmed gone (a container is removed after its exit is read), so the engine may release
   * the step's resources.
   */
  private onRunnerComplete(): void {
    if (this.exit === undefined) {
      this.subscriber.error(
        new CoreError(
          'CORE_PROCESS_FAILED',
          `Step '${this.ctx.stepId}': the runner ended without an exit event`,
          {
            retryable: true,
            details: { runner: this.ctx.runner.name },
          },
        ),
      );
      return;
    }
    const failure = exitError(this.ctx, this.params, this.exit, this.stderrTail.text());
    if (failure !== undefined) {
      this.subscriber.error(failure);
      return;
    }
    this.succeed().catch((error: unknown) => this.subscriber.error(error));
  }

  /** Collects the declared output files, then emits artifacts and outputs and completes. */
  private async succeed(): Promise<void> {
    const collected =
      this.params.outputs === undefined
        ? { artifacts: [], outputs: {} }
        : await collectArtifacts(this.hostWorkdir, this.params.outputs, this.collection.signal);
    for (const artifact of collected.artifacts) this.subscriber.next({ type: 'artifact', artifact });
    this.subscriber.next({
      type: 'outputs',
      outputs: { exitCode: 0, ...collected.outputs, ...this.markerOutputs },
    });
    this.subscriber.complete();
  }
}

function processSpec(ctx: CommandContext, params: ExecParams, hostWorkdir: string): ProcessSpec {
  const argv = typeof params.command === 'string' ? ['sh', '-c', params.command] : params.command;
  const base: ProcessSpec = {
    argv,
    resources: ctx.resources,
    labels: ctx.labels,
    name: ctx.stepId,
    ...(params.env === undefined ? {} : { env: params.env }),
    // For a runner whose scheduler places the work: what to ask for, and the limit to declare.
    ...(ctx.request === undefined ? {} : { request: ctx.request }),
    ...(ctx.timeoutMs === undefined ? {} : { timeLimitMs: ctx.timeoutMs }),
    files: processFiles(ctx, params, hostWorkdir),
  };
  if (params.image === undefined || params.image === null) return { ...base, cwd: hostWorkdir };
  // Outputs are collected on the host, so the container works in the host directory itself.
  return {
    ...base,
    image: params.image,
    mounts: [{ source: hostWorkdir, target: CONTAINER_WORKDIR, readOnly: false }],
    cwd: CONTAINER_WORKDIR,
  };
}

/** The files of the step for a runner that may run it away from the run's folder: inputs and declared outputs. */
function processFiles(ctx: CommandContext, params: ExecParams, hostWorkdir: string): ProcessFiles {
  const inputs = (ctx.inputs ?? []).map(({ path, sha256, size }) => ({ path, sha256, size }));
  const files: ProcessFiles = { root: ctx.workdir, inputs };
  if (params.inputs !== undefined) files.reads = { dir: hostWorkdir, patterns: params.inputs };
  if (params.outputs === undefined) return files;
  const patterns = Array.isArray(params.outputs)
    ? params.outputs
    : Object.values(params.outputs).flatMap((value) => (typeof value === 'string' ? [value] : value));
  return { ...files, outputs: { dir: hostWorkdir, patterns: [...new Set(patterns)] } };
}

function exitError(
  ctx: CommandContext,
  params: ExecParams,
  exit: Extract<ProcessEvent, { type: 'exit' }>,
  stderrTail: string,
): CoreError | undefined {
  const what = `Step '${ctx.stepId}' (${describeCommand(params.command)})`;
  const details = { exitCode: exit.code, signal: exit.signal, oomKilled: exit.oomKilled };
  // The engine may stop a step for its timeout through the signal; the runner then only sees a cancel.
  if (exit.reason === 'timeout' || (exit.reason === 'cancelled' && isTimeoutReason(ctx.signal.reason))) {
    return new CoreError('CORE_TIMEOUT', `${what} timed out and was stopped`, {
      retryable: true,
      details,
      ...(ctx.signal.aborted ? { cause: ctx.signal.reason } : {}),
    });
  }
  if (exit.reason === 'cancelled') {
    const why = reasonText(ctx.signal.reason);
    return new CoreError('CORE_CANCELLED', `${what} was cancelled${why === undefined ? '' : `: ${why}`}`, {
      retryable: false,
      details,
      ...(ctx.signal.aborted ? { cause: ctx.signal.reason } : {}),
    });
  }
  if (exit.code === 0 && !exit.oomKilled) return undefined;
  const how = exit.oomKilled
    ? 'was killed by the OOM killer'
    : exit.code !== null
      ? `exited with code ${exit.code}`
      : `was killed by ${exit.signal ?? 'an unknown signal'}`;
  const tail = lastLines(stderrTail, STDERR_TAIL_LINES);
  const message = tail === '' ? `${what} ${how}` : `${what} ${how}; last lines of stderr:\n${tail}`;
  return new CoreError('CORE_PROCESS_FAILED', message, { retryable: true, details });
}

/** The last bytes of a stream, for quoting in a failure message. */
class ByteTail {
  private chunks: Buffer[] = [];
  private bytes = 0;

  constructor(private readonly keep: number) {}

  add(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    // Compacting only at twice the size keeps a chatty stream from costing a copy per read.
    if (this.bytes > 2 * this.keep) {
      const all = Buffer.concat(this.chunks, this.bytes);
      this.chunks = [all.subarray(all.length - this.keep)];
      this.bytes = this.keep;
    }
  }

  /** The bytes kept, decoded; a character cut at the start is dropped rather than shown as U+FFFD. */
  text(): string {
    const all = Buffer.concat(this.chunks, this.bytes);
    let start = 0;
    if (this.bytes > this.keep) start = this.bytes - this.keep;
    while (start < all.length && (all[start]! & 0xc0) === 0x80) start++;
    return all.toString('utf8', start);
  }
}

function describeCommand(command: ExecParams['command']): string {
  const text = typeof command === 'string' ? command : command.join(' ');
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

function lastLines(text: string, count: number): string {
  const lines = text.replace(/\n+$/, '').split('\n');
  return lines.slice(-count).join('\n');
}

function isTimeoutReason(reason: unknown): boolean {
  if (isBeamlineError(reason)) return reason.code.endsWith('_TIMEOUT');
  return (reason as { name?: unknown } | null | undefined)?.name === 'TimeoutError';
}

function reasonText(reason: unknown): string | undefined {
  if (reason === undefined) return undefined;
  if (reason instanceof Error) return reason.message;
  return typeof reason === 'string' ? reason : undefined;
}
