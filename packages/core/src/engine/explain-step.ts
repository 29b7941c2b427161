import type { Explanation } from '../contracts/runtime.js';
import type { Store } from '../contracts/store.js';
import { CoreError } from '../errors/core-error.js';
import { ownValue } from '../util/own-keys.js';
import { diffKeyParts } from './cache-key.js';

/**
 * Why a step ran or was served from the cache: its key parts compared with the newest earlier
 * execution of the same step of the same pipeline.
 */
export async function explainStep(store: Store, runId: string, stepId: string): Promise<Explanation> {
  const state = await store.runState(runId);
  if (!state)
    throw new CoreError('CORE_RUN_NOT_FOUND', `No run "${runId}" in ${store.description}.`, {
      details: { runId },
    });
  const step = ownValue(state.steps, stepId);
  if (!step) {
    throw new CoreError(
      'CORE_STEP_NOT_FOUND',
      `Run "${runId}" has no step "${stepId}"; its steps are: ${Object.keys(state.steps).join(', ')}.`,
      { details: { runId, stepId, steps: Object.keys(state.steps) } },
    );
  }
  const base = { runId, stepId, status: step.status, ...(step.key ? { key: step.key } : {}) };
  if (!step.key || !step.keyParts) {
    return {
      ...base,
      changes: [],
      summary: `Step "${stepId}" has not computed a cache key (status: ${step.status}).`,
    };
  }
  if (step.status === 'cached') {
    return {
      ...base,
      changes: [],
      summary: `Served from the cache: the same key was completed by run ${step.fromRunId ?? '?'}; nothing changed.`,
    };
  }
  const previous = await store.previousCache(
    `${state.pipeline}/${stepId}`,
    step.startedAt ?? state.updatedAt,
    runId,
  );
  if (!previous) {
    return {
      ...base,
      changes: [],
      summary: `Ran because no earlier execution of step "${stepId}" is recorded.`,
    };
  }
  const changes = diffKeyParts(previous.keyParts, step.keyParts);
  const comparedWith = { runId: previous.runId, key: previous.key };
  const summary =
    changes.length === 0
      ? `The key equals that of run ${previous.runId}; it ran because the cache was bypassed or its artifacts were missing.`
      : `Ran because ${changes.map((change) => change.part).join(', ')} changed since run ${previous.runId}.`;
  return { ...base, comparedWith, changes, summary };
}
