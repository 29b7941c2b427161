import { access, constants, mkdir, readdir, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import {
  createRuntime,
  detectGpuIds,
  Tokens,
  type PipelineDefinition,
  type Plugin,
  type RunResult,
} from '@beamline/core';
import { buildImage, createDockerClient, createDockerPlugin } from '@beamline/plugin-docker';
import { datasetDigest, loadReference } from './data/dataset.js';
import { PetricError } from './errors.js';
import { createPetricPlugin } from './plugin.js';
import { NAME } from './run/evaluate-command.js';
import { THRESHOLDS_DIR } from './ranking/collect.js';
import { writeLeaderboard } from './ranking/leaderboard.js';
import type { Ranking } from './ranking/rank.js';
import { checkName, listSubmissions, saveSubmission, type Submission } from './submissions.js';
import { writeThresholdsLog } from './tensorboard/thresholds-log.js';

/** The folders of a challenge under its root. */
export function challengePaths(root: string) {
  return {
    root,
    data: join(root, 'data'),
    dataWip: join(root, 'data-wip'),
    logs: join(root, 'logs'),
    superseded: join(root, 'superseded'),
    leaderboard: join(root, 'leaderboard'),
  };
}

/** The name of the pipeline every challenge run is recorded under. */
export const PIPELINE_NAME = 'petric';

type Docker = ReturnType<typeof createDockerClient>;

/** A Docker client when an engine answers within a few seconds, else undefined. */
export async function connectDocker(): Promise<Docker | undefined> {
  const docker = createDockerClient();
  try {
    await Promise.race([
      docker.ping(),
      new Promise((_, fail) => setTimeout(() => fail(new Error('timeout')), 5000).unref()),
    ]);
    return docker;
  } catch {
    return undefined;
  }
}

/** What `petric submit` takes. */
export interface SubmitOptions {
  team: string;
  version: string;
  /** An image already on this machine. */
  image?: string;
  /** A folder with a Dockerfile, built into `petric-<team>:<version>`. */
  context?: string;
  /** What to run; default `/submission/run` in an image. A local submission (no image) must give it. */
  command?: string[];
  docker?: Docker;
}

/** Queues a submission (as a tag push did): the image is resolved to its content id now. */
export async function submit(root: string, options: SubmitOptions): Promise<Submission> {
  checkName('team', options.team);
  checkName('version', options.version);
  if (options.image && options.context)
    throw new PetricError('PETRIC_SUBMISSION_INVALID', 'give --image or --context, not both');
  let imageRef: string | undefined;
  let imageId: string | undefined;
  if (options.image || options.context) {
    const docker = options.docker ?? (await connectDocker());
    if (!docker)
      throw new PetricError(
        'PETRIC_SUBMISSION_INVALID',
        'no Docker engine answers: an image submission needs one',
      );
    if (options.context) {
      const repository = `petric-${options.team.toLowerCase()}`;
      const built = await buildImage(docker, {
        context: resolve(options.context),
        repository,
        version: options.version,
      });
      imageRef = `${repository}:${options.version}`;
      imageId = built.id;
    } else {
      imageRef = options.image!;
      try {
        imageId = ((await docker.getImage(imageRef).inspect()) as { Id: string }).Id;
      } catch (error) {
        throw new PetricError(
          'PETRIC_SUBMISSION_INVALID',
          `image ${JSON.stringify(imageRef)} is not on this machine (${(error as Error).message})`,
          { cause: error },
        );
      }
    }
  } else {
    const program = options.command?.[0];
    if (!program || !isAbsolute(program)) {
      throw new PetricError(
        'PETRIC_SUBMISSION_INVALID',
        'a submission without an image needs --command with an absolute program path',
      );
    }
    await access(program, constants.X_OK).catch((error: unknown) => {
      throw new PetricError('PETRIC_SUBMISSION_INVALID', `${program} is not an executable file`, {
        cause: error,
      });
    });
  }
  const submission: Submission = {
    team: options.team,
    version: options.version,
    ...(imageRef ? { imageRef, imageId: imageId! } : {}),
    command: options.command ?? ['/submission/run'],
    submittedAt: new Date().toISOString(),
  };
  await saveSubmission(root, submission);
  return submission;
}

/**
 * The pipeline step id of a (team, version, dataset): `<team>-<version>-<dataset>` with every character
 * a step id may not hold turned into `_` (`-` inside a name becomes `_` too, so ids never collide with
 * another split of the same text).
 */
export function stepId(team: string, version: string, dataset: string): string {
  const part = (name: string) => name.replace(/[^A-Za-z0-9_]/g, '_');
  const id = `${part(team)}-${part(version)}-${part(dataset)}`;
  return /^[A-Za-z_]/.test(id) ? id : `_${id}`;
}

/** What `petric run` takes. */
export interface RunOptions {
  /** Budget excluding metric time, seconds (default 3600). */
  budgetSeconds?: number;
  /** Hard wall-clock limit per (submission, dataset), seconds (default twice the budget plus a minute). */
  hardLimitSeconds?: number;
  /** GPU ids submissions may have, one each (default: what the host has). */
  gpus?: string[];
  /** Submissions at once (default: one per GPU, one on a host without GPUs). */
  parallel?: number;
  /** Run every (submission, dataset) again even when nothing changed; the new run adds to the median. */
  repeat?: boolean;
  /** Only these datasets / teams. */
  datasets?: string[];
  teams?: string[];
  /** Extra plugins (tests). */
  plugins?: Plugin[];
  /** Runtime events and step logs, for the terminal. */
  onLog?: (line: string) => void;
  docker?: Docker | null;
}

/** What a challenge run did. */
export interface ChallengeResult {
  runs: RunResult[];
  ranking: Ranking;
}

async function listDatasets(
  dir: string,
  only: string[] | undefined,
  warn: (line: string) => void,
): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: string[] = [];
  for (const n of names.sort()) {
    if (n.startsWith('.') || (only && !only.includes(n))) continue;
    if (!(await stat(join(dir, n))).isDirectory()) continue;
    if (NAME.test(n)) out.push(n);
    else warn(`${join(dir, n)}: not a dataset name (letters, digits, ".", "_" or "-"): skipped`);
  }
  return out;
}

/**
 * Runs every queued submission on every dataset as one Beamline pipeline (one step per (team, version,
 * dataset), cached by input hash: image id, dataset digest, budget), first resuming a run a killed
 * runner left, then ranks the logs and writes the leaderboard and the threshold lines.
 */
export async function runChallenge(root: string, options: RunOptions = {}): Promise<ChallengeResult> {
  const paths = challengePaths(resolve(root));
  await mkdir(paths.logs, { recursive: true });
  const budget = options.budgetSeconds ?? 3600;
  const hardLimit = options.hardLimitSeconds ?? budget * 2 + 60;
  const submissions = (await listSubmissions(paths.root)).filter(
    (s) => !options.teams || options.teams.includes(s.team),
  );
  const datasets = await listDatasets(paths.data, options.datasets, (line) => options.onLog?.(line));
  const docker = options.docker === null ? undefined : (options.docker ?? (await connectDocker()));
  if (!docker && submissions.some((s) => s.imageId)) {
    throw new PetricError(
      'PETRIC_SUBMISSION_INVALID',
      'no Docker engine answers, and image submissions are queued',
    );
  }
  const plugins: Plugin[] = [
    createPetricPlugin(),
    ...(docker ? [createDockerPlugin({ project: 'petric', docker })] : []),
    ...(options.plugins ?? []),
  ];
  const gpus = options.gpus ?? detectGpuIds();
  const runtime = await createRuntime({
    cwd: paths.root,
    plugins,
    resources: { gpus },
    maxParallel: options.parallel ?? Math.max(1, gpus.length),
  });
  const runs: RunResult[] = [];
  const watch = (handle: {
    events: { on(type: 'failed', fn: (e: { stepId: string; error: { message: string } }) => void): unknown };
  }) => {
    handle.events.on('failed', (e) => options.onLog?.(`${e.stepId}: ${e.error.message}`));
  };
  try {
    const store = runtime.resolve(Tokens.Store);
    for (const r of await store.listRuns({ status: 'running' })) {
      if (r.pipeline === PIPELINE_NAME && r.interrupted) {
        options.onLog?.(`resuming run ${r.id}, interrupted`);
        const handle = await runtime.resume(r.id);
        watch(handle);
        runs.push(await handle.done);
      }
    }
    if (submissions.length > 0 && datasets.length > 0) {
      const steps: PipelineDefinition['steps'] = {};
      for (const dataset of datasets) {
        const datasetDir = join(paths.data, dataset);
        const digest = await datasetDigest(datasetDir);
        for (const s of submissions) {
          steps[stepId(s.team, s.version, dataset)] = {
            uses: 'petric.evaluate',
            needs: [],
            runner: s.imageId ? 'docker' : 'local',
            resources: { gpus: 1, gpuOptional: true },
            with: {
              team: s.team,
              version: s.version,
              dataset,
              datasetDir,
              datasetDigest: digest,
              logDir: paths.logs,
              supersededDir: paths.superseded,
              ...(s.imageId ? { image: s.imageId } : {}),
              command: s.command,
              budgetSeconds: budget,
              hardLimitSeconds: hardLimit,
              keepPrevious: options.repeat === true,
            },
          };
        }
      }
      const handle = await runtime.run(
        { name: PIPELINE_NAME, steps },
        options.repeat ? { noCache: true } : {},
      );
      watch(handle);
      runs.push(await handle.done);
    }
  } finally {
    await runtime.close();
  }
  const voiNames = new Set<string>();
  for (const d of datasets)
    for (const n of (await loadReference(join(paths.data, d)))?.voiNames ?? []) voiNames.add(n);
  await writeThresholdsLog(join(paths.logs, THRESHOLDS_DIR), voiNames, { budgetSeconds: budget });
  const { ranking, warnings } = await writeLeaderboard(paths.logs, paths.leaderboard);
  for (const w of warnings) options.onLog?.(`${w.path}: ${w.message}`);
  return { runs, ranking };
}
