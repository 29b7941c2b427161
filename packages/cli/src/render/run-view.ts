import type { Artifact, ErrorInfo, RunEvent, StepOutputs, StepStatus } from '@beamline/core';
import { isEventMarker } from './event-marker.js';

/** Most recent log lines kept per step: enough to show why a step failed without a trip to `logs`. */
const TAIL_LINES = 5;

/** What the renderers know about one step, folded from its events. */
export interface StepView {
  id: string;
  status: StepStatus | 'retrying';
  attempt: number;
  /** Start of the current attempt (epoch ms). */
  startedAt?: number;
  endedAt?: number;
  durationMs?: number;
  progress?: { current: number; total?: number; message?: string };
  /** Latest value per metric name, in first-seen order. */
  metrics: Map<string, number>;
  artifacts: Artifact[];
  outputs?: StepOutputs;
  error?: ErrorInfo;
  /** GPU ids the step was granted. */
  gpus: readonly string[];
  fromRunId?: string;
  retryDelayMs?: number;
  cancelReason?: string;
  /** Last lines of stdout/stderr. */
  tail: string[];
}

/** The run as a whole, folded from its events. */
export interface RunView {
  runId?: string;
  pipeline?: string;
  resumed: boolean;
  status: 'running' | 'succeeded' | 'failed' | 'cancelled';
  startedAt?: number;
  durationMs?: number;
  error?: ErrorInfo;
  cancelReason?: string;
  /** Steps in plan order (when known), then in order of first appearance. */
  steps: Map<string, StepView>;
}

/** An empty view; `stepIds` pre-seeds steps (from the plan) so pending ones are shown before they start. */
export function createRunView(stepIds: readonly string[] = []): RunView {
  const view: RunView = { resumed: false, status: 'running', steps: new Map() };
  for (const id of stepIds) view.steps.set(id, newStep(id));
  return view;
}

function newStep(id: string): StepView {
  return { id, status: 'pending', attempt: 0, metrics: new Map(), artifacts: [], gpus: [], tail: [] };
}

function stepOf(view: RunView, id: string): StepView {
  let step = view.steps.get(id);
  if (!step) {
    step = newStep(id);
    view.steps.set(id, step);
  }
  return step;
}

/** Folds one event into the view (mutates it: renderers apply thousands of log events). */
export function applyRunEvent(view: RunView, event: RunEvent): void {
  view.runId ??= event.runId;
  if ('stepId' in event) {
    applyStepEvent(stepOf(view, event.stepId), event);
    return;
  }
  switch (event.type) {
    case 'run-started':
      // A resumed run's log holds the earlier segment, ending in its failure or cancellation.
      view.pipeline = event.pipeline;
      view.resumed = event.resumed;
      view.startedAt = event.time;
      view.status = 'running';
      delete view.error;
      delete view.cancelReason;
      delete view.durationMs;
      return;
    case 'run-succeeded':
      view.status = 'succeeded';
      view.durationMs = event.durationMs;
      return;
    case 'run-failed':
      view.status = 'failed';
      view.error = event.error;
      view.durationMs = event.durationMs;
      return;
    case 'run-cancelled':
      view.status = 'cancelled';
      view.cancelReason = event.reason;
      view.durationMs = event.durationMs;
      return;
  }
}

type StepEvent = Extract<RunEvent, { stepId: string }>;

function applyStepEvent(step: StepView, event: StepEvent): void {
  switch (event.type) {
    case 'queued':
      step.status = 'queued';
      return;
    case 'started':
      step.status = 'running';
      step.attempt = event.attempt;
      step.startedAt = event.time;
      step.gpus = event.resources.gpus;
      // The tail explains a failure: only the attempt that failed last is relevant.
      step.tail = [];
      delete step.progress;
      delete step.retryDelayMs;
      return;
    case 'progress':
      step.progress = {
        current: event.current,
        ...(event.total === undefined ? {} : { total: event.total }),
        ...(event.message === undefined ? {} : { message: event.message }),
      };
      return;
    case 'log':
      if (event.stream === 'system') return;
      for (const line of event.text.split('\n')) {
        if (line.trim() !== '' && !isEventMarker(line)) step.tail.push(line);
      }
      if (step.tail.length > TAIL_LINES) step.tail.splice(0, step.tail.length - TAIL_LINES);
      return;
    case 'metric':
      // Map.set keeps a name's first-seen position, so the status line does not reshuffle as values change.
      step.metrics.set(event.name, event.value);
      return;
    case 'artifact':
      step.artifacts.push(event.artifact);
      return;
    case 'retrying':
      step.status = 'retrying';
      step.error = event.error;
      step.retryDelayMs = event.delayMs;
      return;
    case 'succeeded':
      step.status = 'succeeded';
      step.attempt = event.attempt;
      step.outputs = event.outputs;
      step.artifacts = event.artifacts;
      step.durationMs = event.durationMs;
      step.endedAt = event.time;
      delete step.error;
      return;
    case 'failed':
      step.status = 'failed';
      step.attempt = event.attempt;
      step.error = event.error;
      step.durationMs = event.durationMs;
      step.endedAt = event.time;
      return;
    case 'cached':
      step.status = 'cached';
      step.outputs = event.outputs;
      step.artifacts = event.artifacts;
      step.fromRunId = event.fromRunId;
      step.endedAt = event.time;
      return;
    case 'cancelled':
      step.status = 'cancelled';
      step.cancelReason = event.reason;
      step.endedAt = event.time;
      if (step.startedAt !== undefined) step.durationMs = event.time - step.startedAt;
      return;
  }
}

/** Count of steps per final status, for the summary line. */
export function countSteps(
  view: RunView,
): Record<'succeeded' | 'cached' | 'failed' | 'cancelled' | 'other', number> {
  const counts = { succeeded: 0, cached: 0, failed: 0, cancelled: 0, other: 0 };
  for (const step of view.steps.values()) {
    switch (step.status) {
      case 'succeeded':
      case 'cached':
      case 'failed':
      case 'cancelled':
        counts[step.status] += 1;
        break;
      case 'pending':
      case 'queued':
      case 'running':
      case 'retrying':
        counts.other += 1;
    }
  }
  return counts;
}

/**
 * Step ids of a stored plan, in plan order. The plan is `unknown` in the store contract (it is the
 * planner's JSON), so this reads it defensively and returns nothing for a shape it does not know.
 */
export function planStepIds(plan: unknown): string[] {
  if (typeof plan !== 'object' || plan === null) return [];
  const steps = (plan as { steps?: unknown }).steps;
  if (!Array.isArray(steps)) return [];
  return steps.flatMap((step: unknown) => {
    const id = typeof step === 'object' && step !== null ? (step as { id?: unknown }).id : undefined;
    return typeof id === 'string' ? [id] : [];
  });
}
