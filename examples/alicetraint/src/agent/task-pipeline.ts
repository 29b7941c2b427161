import type { PipelineDefinition, StepDefinition } from '@beamline/core';
import { isAbsolute, join, relative } from 'node:path';
import type { QueuedTask } from '../client/wire.js';
import { ResultType, TaskStatus } from '../client/wire.js';
import type { AgentConfig } from '../config/agent-config.js';
import type { ResultSpec } from './stage-uploads.js';

/** Folders of one task. */
export interface TaskFolders {
  /** The task's work folder (`<data>/tasks/<id>`): AODs, `train.json`, intermediate files. */
  readonly work: string;
  /** The task's results (`<results>/<id>`): plots, models, logs. */
  readonly results: string;
  /** The stage logs (`<results>/<id>/logs`). */
  readonly logs: string;
}

/** The AODs' folder in a task's work folder (hard links into the grid cache, or copies). */
const AOD_DIR = 'raw';

/** The folders of a task. */
export function taskFolders(
  config: Pick<AgentConfig, 'dataDir' | 'resultsDir'>,
  taskId: number,
): TaskFolders {
  const results = join(config.resultsDir, String(taskId));
  return { work: join(config.dataDir, 'tasks', String(taskId)), results, logs: join(results, 'logs') };
}

/** One processing stage: its log name, its command for each stage set, what it uploads. */
interface StageSpec {
  readonly id: string;
  readonly log: string;
  readonly pidml: (c: AgentConfig) => string[];
  readonly standin: (c: AgentConfig) => string[];
  readonly results: (folders: TaskFolders) => ResultSpec[];
  readonly gpu?: boolean;
}

const py = (c: AgentConfig, stage: string) => [
  join(c.venvDir, 'bin', 'python'),
  join(c.scriptsDir, 'pdi_scripts.py'),
  stage,
];
const node = (c: AgentConfig, script: string, ...args: string[]) => [
  // In a container, the image's own `node` (found on its PATH).
  c.stageImage === undefined ? process.execPath : 'node',
  join(c.scriptsDir, script),
  ...args,
];

/**
 * The original module's stages after the download, with their log names and uploads. The `pidml`
 * commands are the real ones (O2Physics through `alienv`, the `pdi` scripts in their venv); `standin`
 * runs the example's scripts, which do the same on a small scale.
 */
const STAGES: readonly StageSpec[] = [
  {
    id: 'producer',
    log: 'pidml_producer',
    pidml: (c) => [
      'alienv',
      'setenv',
      'O2Physics/latest',
      '-c',
      join(c.scriptsDir, 'run-pidml-producer.sh'),
      join(c.scriptsDir, 'ml-mc-config.json'),
      'local_list.txt',
    ],
    standin: (c) => node(c, 'run-pidml-producer.mjs', 'local_list.txt', 'preprocessed_ao2ds.root'),
    results: () => [],
  },
  {
    id: 'process',
    log: 'pdi_process',
    pidml: (c) => py(c, 'process'),
    standin: (c) => node(c, 'pdi_scripts.mjs', 'process'),
    results: () => [],
  },
  {
    id: 'data-exploration',
    log: 'pdi_data_exploration',
    pidml: (c) => py(c, 'data-exploration'),
    standin: (c) => node(c, 'pdi_scripts.mjs', 'data-exploration'),
    results: (f) => [image(f, 'data-exploration', 'data exploration')],
  },
  {
    id: 'train',
    log: 'pdi_train',
    pidml: (c) => py(c, 'train'),
    standin: (c) => node(c, 'pdi_scripts.mjs', 'train'),
    results: (f) => [
      { dir: join(f.results, 'models'), ext: '.onnx', type: ResultType.Onnx, description: 'trained model' },
    ],
    gpu: true,
  },
  {
    id: 'benchmark',
    log: 'pdi_benchmark',
    pidml: (c) => py(c, 'benchmark'),
    standin: (c) => node(c, 'pdi_scripts.mjs', 'benchmark'),
    results: (f) => [
      image(f, 'benchmark', 'benchmark'),
      image(f, 'feature_importance', 'feature importance'),
    ],
    gpu: true,
  },
];

function image(f: TaskFolders, sub: string, description: string): ResultSpec {
  return { dir: join(f.results, sub), ext: '.png', type: ResultType.Image, description };
}

/** Options of {@link buildTaskPipeline}. */
export interface TaskPipelineOptions {
  /** Mock mode: no download, no scripts; canned models and plots from this folder are uploaded. */
  readonly mock?: { readonly uploadsDir: string; readonly sleepMs: number };
}

/**
 * The pipeline of one task: `download` (the AODs), `producer`, `process`, `data-exploration`,
 * `train`, `status-benchmarking`, `benchmark`, `status-completed`, in that order, each after the
 * previous; engine retries off (uploads and status posts retry inside their step).
 */
export function buildTaskPipeline(
  task: QueuedTask,
  config: AgentConfig,
  options: TaskPipelineOptions = {},
): PipelineDefinition {
  const folders = taskFolders(config, task.ID);
  const steps: Record<string, StepDefinition> = {};
  const env = stageEnv(config, task.ID, folders);
  const status = (s: 3 | 4): StepDefinition => ({
    uses: 'alicetraint.status',
    with: { taskId: task.ID, status: s },
  });
  if (options.mock) {
    const { uploadsDir, sleepMs } = options.mock;
    const sleep = [process.execPath, '-e', `setTimeout(() => console.log('mock stage done'), ${sleepMs})`];
    steps['mock-train'] = {
      uses: 'alicetraint.stage',
      with: {
        taskId: task.ID,
        stage: 'mock_train',
        logDir: folders.logs,
        command: sleep,
        results: [
          { dir: join(uploadsDir, 'models'), ext: '.onnx', type: ResultType.Onnx, description: 'mock model' },
        ],
      },
    };
    steps['status-benchmarking'] = status(TaskStatus.Benchmarking);
    steps['mock-benchmark'] = {
      uses: 'alicetraint.stage',
      with: {
        taskId: task.ID,
        stage: 'mock_benchmark',
        logDir: folders.logs,
        command: sleep,
        results: [
          { dir: join(uploadsDir, 'graphs'), ext: '.png', type: ResultType.Image, description: 'mock graph' },
        ],
      },
    };
    steps['status-completed'] = status(TaskStatus.Completed);
    return { name: `alicetraint-mock-task-${task.ID}`, steps };
  }
  steps.download = {
    uses: 'alicetraint.download',
    with: {
      taskId: task.ID,
      stage: 'grid_download',
      logDir: folders.logs,
      aods: task.AODFiles,
      dest: AOD_DIR,
      listFile: 'local_list.txt',
    },
  };
  const container = config.stageImage === undefined ? undefined : stageContainer(config, folders);
  for (const stage of STAGES) {
    if (stage.id === 'benchmark') steps['status-benchmarking'] = status(TaskStatus.Benchmarking);
    steps[stage.id] = {
      uses: 'alicetraint.stage',
      with: {
        taskId: task.ID,
        stage: stage.log,
        logDir: folders.logs,
        command: config.stages === 'pidml' ? stage.pidml(config) : stage.standin(config),
        env,
        results: stage.results(folders),
        ...(container && { container }),
      },
      ...(container && { runner: 'docker' }),
      ...(stage.gpu && { resources: { gpus: Math.max(1, config.gpus?.length ?? 1), gpuOptional: true } }),
    };
  }
  steps['status-completed'] = status(TaskStatus.Completed);
  return { name: `alicetraint-task-${task.ID}`, steps };
}

/** A folder mounted into a stage's container, at the same path as on the host. */
interface StageMount {
  readonly source: string;
  readonly readOnly: boolean;
}

/**
 * The container of the stages: the image, and the host folders mounted at their own paths (so the
 * commands and the environment name the same paths inside and out): the data folder read-only (the
 * cache and the agent's state) with the task's work folder writable on top of it (its AODs read-only
 * again), the task's results writable, the scripts (and for `pidml` the venv and the `pdi` sources) read-only.
 */
function stageContainer(config: AgentConfig, folders: TaskFolders): { image: string; mounts: StageMount[] } {
  const mounts: StageMount[] = [
    { source: config.dataDir, readOnly: true },
    { source: folders.work, readOnly: false },
    // Hard links into the cache: writable, they would let a stage change the cached AODs.
    { source: join(folders.work, AOD_DIR), readOnly: true },
    { source: folders.results, readOnly: false },
    { source: config.scriptsDir, readOnly: true },
  ];
  if (!isInside(config.gridCacheDir, config.dataDir))
    mounts.push({ source: config.gridCacheDir, readOnly: true });
  if (config.stages === 'pidml') {
    mounts.push({ source: config.venvDir, readOnly: true }, { source: config.pdiSrcDir, readOnly: true });
  }
  return { image: config.stageImage!, mounts };
}

function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** The stages' environment: the configuration's folders (never the secret) and the task's own. */
function stageEnv(config: AgentConfig, taskId: number, folders: TaskFolders): Record<string, string> {
  return {
    MACHINE_ID: config.machineId,
    // The stages inherit the agent's environment; the secret is not theirs to read.
    MACHINE_SECRET_KEY: '',
    ALICETRAINT_DATA_DIR_PATH: config.dataDir,
    ALICETRAINT_SCRIPTS_DIR_PATH: config.scriptsDir,
    ALICETRAINT_VENV_DIR_PATH: config.venvDir,
    ALICETRAINT_RESULTS_DIR_PATH: folders.results,
    ALICETRAINT_PDI_SRC_DIR_PATH: config.pdiSrcDir,
    ALICETRAINT_TASK_ID: String(taskId),
    ALICETRAINT_TASK_DIR: folders.work,
    ALICETRAINT_TASK_RESULTS_DIR: folders.results,
    PYTHONPATH: config.pdiSrcDir,
  };
}
