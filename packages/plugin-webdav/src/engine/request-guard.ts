import { AsyncResource, createHook, executionAsyncId } from 'node:async_hooks';

/**
 * Catches what a request handled by webdav-server throws later, from a callback it scheduled (a timer,
 * a file-system or stream callback), so one request cannot stop the process: what `node:domain` did
 * here before. A domain's async hook stays on for the life of the process once the first domain is
 * created, and made every later request (a GET of 4 KiB: about 20% of its CPU) pay for it after the first
 * MKCOL, DELETE, COPY or MOVE. This hook is on only while a request is inside the engine.
 *
 * How: the engine's work for a request runs in an async resource of its own; while any such request is
 * in flight, an `init` hook marks every async resource created from a marked one as that request's. An
 * uncaught exception thrown while a marked resource runs goes to that request's `onError`. An uncaught
 * exception of anything else is left as it was: to the application's own `uncaughtException` listeners
 * if it has any, else the process crashes as Node would (the error printed, exit code 1).
 */

/** One request inside the engine. */
interface Scope {
  readonly onError: (error: unknown) => void;
  /** The async resources it created (removed from `owners` some time after the request ended). */
  readonly ids: number[];
  /** Whether resources it creates are still marked as its own. */
  open: boolean;
}

/**
 * How long the resources of an ended request stay its own: a callback they run after the answer was
 * sent (a stream's last one) that throws is still reported as that request's, not as a crash.
 */
const LINGER_MS = 60_000;

const owners = new Map<number, Scope>();
let inFlight = 0;
let listening = false;
let crashing = false;

const hook = createHook({
  init(asyncId, _type, triggerAsyncId) {
    const scope = owners.get(executionAsyncId()) ?? owners.get(triggerAsyncId);
    if (scope?.open) {
      owners.set(asyncId, scope);
      scope.ids.push(asyncId);
    }
  },
});

function onUncaught(error: unknown): void {
  const scope = owners.get(executionAsyncId());
  if (scope) {
    scope.onError(error);
    return;
  }
  // Not a request's: the application's own listeners decide; without any, crash as Node would have.
  if (process.listenerCount('uncaughtException') > 1) return;
  crashing = true;
  listening = false;
  process.off('uncaughtException', onUncaught);
  process.nextTick(() => {
    throw error;
  });
}

/**
 * Runs `fn` (which starts the engine on a request) so that what it throws, now or from a callback it
 * scheduled, goes to `onError` instead of stopping the process. Call the returned function once the
 * request is over (its response finished or closed): from then on the hook is off unless another
 * request is inside the engine.
 */
export function guardRequest(fn: () => void, onError: (error: unknown) => void): () => void {
  const scope: Scope = { onError, ids: [], open: true };
  if (!listening && !crashing) {
    process.on('uncaughtException', onUncaught);
    listening = true;
  }
  if (inFlight === 0) hook.enable();
  inFlight += 1;
  const resource = new AsyncResource('BEAMLINE_WEBDAV_ENGINE');
  owners.set(resource.asyncId(), scope);
  scope.ids.push(resource.asyncId());
  try {
    resource.runInAsyncScope(fn);
  } catch (error) {
    onError(error);
  }
  let ended = false;
  return () => {
    if (ended) return;
    ended = true;
    scope.open = false;
    inFlight -= 1;
    if (inFlight === 0) hook.disable();
    const forget = setTimeout(() => {
      for (const id of scope.ids) owners.delete(id);
      resource.emitDestroy();
    }, LINGER_MS);
    forget.unref();
  };
}
