import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import {
  defineCommand,
  type Artifact,
  type CommandContext,
  type ProcessEvent,
  type ProcessSpec,
  type StepEvent,
} from '@beamline/core';
import { Observable } from 'rxjs';
import { z } from 'zod';
import { readInterfile } from '../data/interfile.js';
import { loadReference } from '../data/dataset.js';
import { PetricError } from '../errors.js';
import { BudgetClock } from '../metrics/budget-clock.js';
import { ThresholdWindow } from '../metrics/early-stop.js';
import { QualityMetrics } from '../metrics/quality-metrics.js';
import { EventFileWriter } from '../tensorboard/event-file.js';
import { containerFreezer, processGroupFreezer, type Freezer, type PausableDocker } from './freezer.js';

/** A team, version or dataset name: a safe single path segment. */
export const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const name = z.string().regex(NAME, 'letters, digits, ".", "_" or "-", starting with a letter or digit');
const absolute = z.string().refine((p) => p.startsWith('/'), 'an absolute path');

/** Parameters of `petric.evaluate`: one submission on one dataset. */
export const evaluateParamsSchema = z
  .object({
    team: name,
    version: name,
    dataset: name,
    /** The dataset folder on this host (mounted read-only at `/data` in a container). */
    datasetDir: absolute,
    /** Content digest of the dataset folder (part of the cache key). */
    datasetDigest: z.string().min(1),
    /** The logs root: events go to `<logDir>/<team>/<version>/<dataset>/`. */
    logDir: absolute,
    /** Where earlier runs' event files are moved when a run replaces them. */
    supersededDir: absolute,
    /** The submission's image, by digest; absent: a local process (no Docker engine). */
    image: z.string().min(1).optional(),
    /** What to run (in the image, or on this host). */
    command: z.array(z.string()).min(1),
    /** The budget, excluding metric time (3600 s in PETRIC, 600 s in PETRIC2). */
    budgetSeconds: z.number().positive().default(3600),
    /** Hard wall-clock limit, metric time included, enforced from outside (stop, grace, kill). */
    hardLimitSeconds: z.number().positive().optional(),
    killGraceSeconds: z.number().nonnegative().default(10),
    /** Early-stop window: evaluations in a row under every threshold. */
    window: z.number().int().positive().default(10),
    /** Keep earlier event files in the folder (a repeat adds a run to the median) instead of replacing them. */
    keepPrevious: z.boolean().default(false),
  })
  .strict();

/** The validated parameters of `petric.evaluate`. */
export type EvaluateParams = z.output<typeof evaluateParamsSchema>;

/** How an evaluation ended: metrics under threshold for the window, budget spent, or the submission's own end. */
export type Outcome = 'converged' | 'budget' | 'finished';

const IMAGE_LINE = /^::image\s+(\d{1,9})\s+(\S.*?)\s*$/;
const ATTEMPT_FILE = 'petric-attempt.json';
const STDERR_TAIL = 4096;
/** Longest stdout line looked at for an `::image` report; output is never buffered beyond it. */
const MAX_LINE = 64 * 1024;
/** A submission reporting images that cannot be read gets this many log lines about it, not one per line. */
const MAX_UNREADABLE_LOGGED = 20;

/** Reads the dockerode client once the runtime has started (absent without the Docker plugin). */
export interface DockerAccess {
  docker?: PausableDocker;
}

async function moveAside(dir: string, names: string[], supersededDir: string, rel: string): Promise<void> {
  if (names.length === 0) return;
  const dest = join(supersededDir, rel, new Date().toISOString().replace(/[:.]/g, '-'));
  await mkdir(dest, { recursive: true });
  for (const n of names) await rename(join(dir, n), join(dest, n));
}

async function sha256(path: string): Promise<{ sha256: string; size: number }> {
  const bytes = await readFile(path);
  return { sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
}

/**
 * `petric.evaluate`: runs one submission on one dataset through the step's runner, computes the challenge
 * metrics of every image it reports (`::image <iteration> <file>` on stdout, the file relative to its
 * output folder) with the submission frozen and the budget clock paused, writes them as TensorBoard
 * scalars and metric events, and stops it at early stop, when the budget is spent, or at the hard limit.
 */
export function createEvaluateCommand(access: DockerAccess) {
  return defineCommand({
    name: 'petric.evaluate',
    version: '1',
    description: 'Run a PETRIC submission on one dataset under the challenge budget, with metrics',
    params: evaluateParamsSchema,
    runnerIdentity: (p) => (p.image ? { image: p.image } : {}),
    execute: (ctx, p) =>
      new Observable<StepEvent>((subscriber) => {
        const stop = new AbortController();
        evaluate(ctx, p, access, (e) => subscriber.next(e), stop.signal).then(
          (events) => {
            for (const e of events) subscriber.next(e);
            subscriber.complete();
          },
          (error: unknown) => subscriber.error(error),
        );
        return () => stop.abort(new Error('unsubscribed'));
      }),
  });
}

async function evaluate(
  ctx: CommandContext,
  p: EvaluateParams,
  access: DockerAccess,
  emit: (e: StepEvent) => void,
  unsubscribed: AbortSignal,
): Promise<StepEvent[]> {
  const rel = join(p.team, p.version, p.dataset);
  const outDir = join(p.logDir, rel);
  await mkdir(outDir, { recursive: true });
  await mkdir(ctx.stepDir, { recursive: true });

  // An earlier attempt of this step that did not finish (crash, kill -9, failure) is not a run.
  const attemptFile = join(ctx.stepDir, ATTEMPT_FILE);
  const previous = await readFile(attemptFile, 'utf8').then(
    (t) => {
      try {
        return JSON.parse(t) as { eventFile?: string };
      } catch {
        return undefined; // written by an attempt killed mid-write
      }
    },
    () => undefined,
  );
  const existing = (await readdir(outDir)).filter((n) => n.startsWith('events.out.tfevents.'));
  const stale = p.keepPrevious ? existing.filter((n) => previous?.eventFile?.endsWith('/' + n)) : existing;
  await moveAside(outDir, stale, p.supersededDir, rel);

  let metrics: QualityMetrics | undefined;
  try {
    const reference = await loadReference(p.datasetDir);
    metrics = reference ? new QualityMetrics(reference) : undefined;
  } catch (error) {
    throw new PetricError(
      'PETRIC_DATASET_INVALID',
      `dataset ${p.dataset} (${p.datasetDir}): ${(error as Error).message}`,
      {
        cause: error,
        details: { dataset: p.dataset },
      },
    );
  }
  const windowCheck = new ThresholdWindow(p.window);
  const writer = EventFileWriter.create(outDir);
  await writeFile(attemptFile, JSON.stringify({ eventFile: writer.path }));
  const clock = new BudgetClock(p.budgetSeconds);
  // Every scalar is also a run event: the `reset` time-origin markers too.
  const reset = (step: number, wallTime: number) => {
    writer.addScalar('reset', 0, step, wallTime);
    emit({ type: 'metric', name: 'reset', value: 0, step });
  };
  reset(-1, clock.reset());
  if (!metrics)
    emit({
      type: 'log',
      stream: 'system',
      text: `dataset ${p.dataset} has no reference image: no metrics, no early stop\n`,
    });

  const own = new AbortController();
  const signal = AbortSignal.any([ctx.signal, own.signal, unsubscribed]);
  let outcome: Outcome | undefined;
  let lastIteration = -1;
  let evaluations = 0;
  let unreadable = 0;
  let freezer: Freezer | undefined;
  let stderrTail = '';
  let chain = Promise.resolve();
  let pending = '';

  const finish = (why: Outcome, step: number) => {
    if (outcome) return;
    outcome = why;
    if (why === 'budget') reset(step, clock.now());
    emit({
      type: 'log',
      stream: 'system',
      text:
        why === 'budget'
          ? `budget of ${p.budgetSeconds} s spent: stopping\n`
          : `every metric under its threshold for ${p.window} evaluations: stopping\n`,
    });
    own.abort(new Error(why));
  };

  const onImage = async (iteration: number, file: string) => {
    if (outcome || signal.aborted) return;
    lastIteration = Math.max(lastIteration, iteration);
    if (!metrics) return;
    await freezer?.freeze();
    clock.pause();
    let converged = false;
    try {
      const t = clock.now();
      const volume = await readInterfile(resolve(outDir, file), { root: outDir });
      const values = metrics.evaluate(volume.data);
      for (const [tag, value] of values) {
        writer.addScalar(tag, value, iteration, t);
        emit({ type: 'metric', name: tag, value, step: iteration });
      }
      evaluations++;
      converged = windowCheck.update(values);
    } catch (error) {
      unreadable++;
      if (unreadable <= MAX_UNREADABLE_LOGGED) {
        const more =
          unreadable === MAX_UNREADABLE_LOGGED ? ' (further unreadable images are not logged)' : '';
        emit({
          type: 'log',
          stream: 'system',
          text: `iteration ${iteration}: image ${JSON.stringify(file)} not evaluated: ${(error as Error).message}${more}\n`,
        });
      }
    } finally {
      clock.resume();
      await freezer?.thaw().catch(() => undefined);
    }
    if (converged) finish('converged', iteration);
    else if (clock.expired()) finish('budget', iteration + 1);
  };

  const decoder = new StringDecoder('utf8');
  let overlong = false; // inside a line longer than MAX_LINE: no report, skipped to its end
  const onStdout = (data: Buffer) => {
    pending += decoder.write(data);
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      const m = overlong ? null : IMAGE_LINE.exec(line);
      overlong = false;
      if (m) {
        const [, n, file] = m;
        chain = chain.then(() => onImage(Number(n), file!));
      }
    }
    if (pending.length > MAX_LINE) {
      pending = '';
      overlong = true;
    }
  };

  const timer = setInterval(() => {
    if (clock.expired()) chain = chain.then(() => finish('budget', lastIteration + 1));
  }, 200);

  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const env = {
    GITHUB_REPOSITORY: `SyneRBI/PETRIC-${p.team}`,
    GITHUB_REF_NAME: p.version,
    PETRIC_DATASET: p.dataset,
    TQDM_MININTERVAL: '1',
  };
  const common: ProcessSpec = {
    argv: p.command,
    resources: ctx.resources,
    labels: {
      ...ctx.labels,
      'io.beamline.petric.team': p.team,
      'io.beamline.petric.version': p.version,
      'io.beamline.petric.dataset': p.dataset,
    },
    name: `${p.team}-${p.version}-${p.dataset}`,
    killGraceMs: p.killGraceSeconds * 1000,
    ...(p.hardLimitSeconds ? { timeoutMs: p.hardLimitSeconds * 1000 } : {}),
  };
  const spec: ProcessSpec = p.image
    ? {
        ...common,
        image: p.image,
        env: { ...env, PETRIC_SRCDIR: '/data', PETRIC_OUTDIR: '/o' },
        cwd: '/o',
        user: `${uid}:${gid}`,
        network: 'none',
        mounts: [
          { source: p.datasetDir, target: '/data', readOnly: true },
          { source: outDir, target: '/o' },
        ],
      }
    : { ...common, env: { ...env, PETRIC_SRCDIR: p.datasetDir, PETRIC_OUTDIR: outDir }, cwd: outDir };

  let exit: Extract<ProcessEvent, { type: 'exit' }> | undefined;
  try {
    await new Promise<void>((done, fail) => {
      ctx.runner.exec(spec, { signal }).subscribe({
        next: (e) => {
          switch (e.type) {
            case 'started':
              if (e.containerId && access.docker) freezer = containerFreezer(access.docker, e.containerId);
              else if (e.pid && !p.image) freezer = processGroupFreezer(e.pid);
              break;
            case 'stdout':
              emit({ type: 'log', stream: 'stdout', text: e.data.toString('utf8') });
              onStdout(e.data);
              break;
            case 'stderr': {
              const text = e.data.toString('utf8');
              stderrTail = (stderrTail + text).slice(-STDERR_TAIL);
              emit({ type: 'log', stream: 'stderr', text });
              break;
            }
            case 'exit':
              exit = e;
              break;
          }
        },
        error: fail,
        complete: done,
      });
    });
    await chain;
  } finally {
    clearInterval(timer);
    await freezer?.thaw().catch(() => undefined);
    writer.close();
  }

  if (ctx.signal.aborted) throw ctx.signal.reason;
  if (unsubscribed.aborted) throw unsubscribed.reason;
  const details = {
    team: p.team,
    version: p.version,
    dataset: p.dataset,
    eventFile: writer.path,
    lastIteration,
  };
  if (!outcome) {
    if (exit?.reason === 'timeout') {
      throw new PetricError(
        'PETRIC_HARD_LIMIT',
        `${rel}: stopped at the hard limit of ${p.hardLimitSeconds} s`,
        { details },
      );
    }
    if (exit?.code !== 0) {
      const how = exit?.code === null ? `was killed by ${exit.signal}` : `exited with code ${exit?.code}`;
      throw new PetricError(
        'PETRIC_SUBMISSION_FAILED',
        `${rel}: the submission ${how}${stderrTail ? `; stderr ends with:\n${stderrTail.trimEnd()}` : ''}`,
        { details },
      );
    }
    outcome = 'finished';
  }
  const artifact: Artifact = {
    name: 'events',
    path: writer.path,
    kind: 'tensorboard',
    ...(await sha256(writer.path)),
  };
  await rm(attemptFile, { force: true });
  return [
    { type: 'artifact', artifact },
    {
      type: 'outputs',
      outputs: {
        team: p.team,
        version: p.version,
        dataset: p.dataset,
        outcome,
        lastIteration,
        evaluations,
        budgetUsedSeconds: Math.round(clock.used() * 1000) / 1000,
        eventFile: writer.path,
      },
    },
  ];
}
