import {
  applyRunEvent as applyToRunState,
  initialRunState,
  parseMarker,
  type RunEvent,
  type RunRecord,
  type RunResult,
  type RunState,
  type StepState,
  type StepStatus,
} from '@beamline/core';

/** Most recent log lines kept per step: enough to show why a step failed without a trip to `logs`. */
const TAIL_LINES = 5;

/**
 * What only the display needs about a step. Status, attempts, times, outputs, artifacts and errors are
 * core's {@link StepState}, folded by core's reducer, so the terminal says what `beamline show` says.
 */
interface StepDisplay {
  progress?: { current: number; total?: number; message?: string };
  /** Latest value per metric name, in first-seen order. */
  metrics: Map<string, number>;
  /** GPU ids the current attempt was granted. */
  gpus: readonly string[];
  /** The wait before the next attempt, from a `retrying` event until that attempt starts. */
  retryDelayMs?: number;
  /** Last lines of stdout/stderr of the current attempt. */
  tail: string[];
}

/** One step as the renderers see it: core's state and the display-only extras. */
export interface StepView {
  readonly id: string;
  readonly state: StepState;
  readonly display: StepDisplay;
}

/** A run as the renderers see it. */
export interface RunView {
  /** Core's state of the run, folded from its events with core's reducer. */
  readonly state: RunState;
  /** Display-only state, for the steps that have any. */
  readonly display: Map<string, StepDisplay>;
  /** The current segment is a resumed run. */
  resumed: boolean;
  /** Start of the current segment (a resumed run restarts the clock). */
  startedAt?: number;
  /** Duration of the segment, once it ended. */
  durationMs?: number;
}

/**
 * An empty view of a run. The run's record (when there is one) lists the planned steps, so pending steps
 * are shown, in plan order, before they start.
 */
export function createRunView(record?: Pick<RunRecord, 'id' | 'pipeline' | 'plan' | 'createdAt'>): RunView {
  const state = initialRunState({
    id: record?.id ?? '',
    pipeline: record?.pipeline ?? '',
    plan: record?.plan,
    params: {},
    cwd: '',
    createdAt: record?.createdAt ?? 0,
  });
  return { state, display: new Map(), resumed: false };
}

/** A view whose plan has these step ids (tests and callers without a stored record). */
export function createRunViewOf(stepIds: readonly string[]): RunView {
  return createRunView({
    id: '',
    pipeline: '',
    createdAt: 0,
    plan: { steps: stepIds.map((id) => ({ id })) },
  });
}

const NO_DISPLAY: StepDisplay = Object.freeze({ metrics: new Map(), gpus: [], tail: [] });

/** The steps in plan order, then in order of first appearance. */
export function stepViews(view: RunView): StepView[] {
  return Object.values(view.state.steps).map((state) => ({
    id: state.stepId,
    state,
    display: view.display.get(state.stepId) ?? NO_DISPLAY,
  }));
}

/** Folds one event into the view, in place (renderers apply thousands of log events). */
export function applyRunEvent(view: RunView, event: RunEvent): void {
  if (view.state.id === '') view.state.id = event.runId;
  applyToRunState(view.state, event);
  switch (event.type) {
    case 'run-started':
      if (event.pipeline !== '') view.state.pipeline = event.pipeline;
      view.resumed = event.resumed;
      view.startedAt = event.time;
      delete view.durationMs;
      return;
    case 'run-succeeded':
    case 'run-failed':
    case 'run-cancelled':
      view.durationMs = event.durationMs;
      return;
    case 'started': {
      // The tail explains a failure: only the attempt that failed last is relevant.
      const display = displayOf(view, event.stepId);
      display.gpus = event.resources.gpus;
      display.tail = [];
      delete display.progress;
      delete display.retryDelayMs;
      return;
    }
    case 'retrying':
      displayOf(view, event.stepId).retryDelayMs = event.delayMs;
      return;
    case 'progress':
      displayOf(view, event.stepId).progress = {
        current: event.current,
        ...(event.total === undefined ? {} : { total: event.total }),
        ...(event.message === undefined ? {} : { message: event.message }),
      };
      return;
    case 'metric':
      // Map.set keeps a name's first-seen position, so the status line does not reshuffle as values change.
      displayOf(view, event.stepId).metrics.set(event.name, event.value);
      return;
    case 'log': {
      if (event.stream === 'system') return;
      const tail = displayOf(view, event.stepId).tail;
      for (const line of event.text.split('\n')) {
        if (line.trim() !== '' && !isShownAsEvent(line)) tail.push(line);
      }
      if (tail.length > TAIL_LINES) tail.splice(0, tail.length - TAIL_LINES);
      return;
    }
    case 'queued':
    case 'process':
    case 'artifact':
    case 'succeeded':
    case 'failed':
    case 'cached':
    case 'cancelled':
      return;
  }
}

function displayOf(view: RunView, stepId: string): StepDisplay {
  let display = view.display.get(stepId);
  if (!display) {
    display = { metrics: new Map(), gpus: [], tail: [] };
    view.display.set(stepId, display);
  }
  return display;
}

/**
 * A `::metric` or `::progress` line of a step's stdout, as core's parser reads it. The log keeps such
 * lines, but each also arrives as its own event, which the renderers show better; printing both would
 * say everything twice. (`::output` lines stay: outputs have no event of their own until the step
 * ends; a malformed marker is no event, so it stays too.)
 */
export function isShownAsEvent(line: string): boolean {
  const type = parseMarker(line)?.type;
  return type === 'metric' || type === 'progress';
}

/** Whether a step waits for its next attempt (core counts it as running). */
export function isRetrying(step: StepView): boolean {
  return step.state.status === 'running' && step.display.retryDelayMs !== undefined;
}

/** How long a step's last attempt took, once it ended. */
export function stepDuration(state: StepState): number | undefined {
  return state.startedAt !== undefined && state.endedAt !== undefined
    ? state.endedAt - state.startedAt
    : undefined;
}

/**
 * The run's result is authoritative: a step may have been stopped without an event the view saw, and
 * steps the events never mentioned (not reached before a failure) still count in the summary.
 */
export function completeView(view: RunView, result: RunResult): RunView {
  // A spread, not Object.assign: a step id `__proto__` (a run recorded before such ids were refused)
  // stays a key instead of becoming the prototype.
  view.state.steps = { ...view.state.steps, ...result.steps };
  view.state.status = result.status;
  view.durationMs ??= result.durationMs;
  return view;
}

/** Count of steps per final status, for the summary line. */
export function countSteps(
  view: RunView,
): Record<'succeeded' | 'cached' | 'failed' | 'cancelled' | 'other', number> {
  const counts = { succeeded: 0, cached: 0, failed: 0, cancelled: 0, other: 0 };
  for (const step of Object.values(view.state.steps)) counts[countedAs(step.status)] += 1;
  return counts;
}

function countedAs(status: StepStatus): keyof ReturnType<typeof countSteps> {
  switch (status) {
    case 'succeeded':
    case 'cached':
    case 'failed':
    case 'cancelled':
      return status;
    case 'pending':
    case 'queued':
    case 'running':
      return 'other';
  }
}
