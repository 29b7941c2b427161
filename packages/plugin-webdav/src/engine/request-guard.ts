import { AsyncResource, createHook, executionAsyncResource } from 'node:async_hooks';

/**
 * Catches what a request handled by webdav-server throws later, from a callback it scheduled (a timer,
 * a file-system or stream callback), so one request cannot stop the process: what `node:domain` did
 * here before. A domain's async hook stays on for the life of the process once the first domain is
 * created, and made every later request (a GET of 4 KiB: about 20% of its CPU) pay for it after the first
 * MKCOL, DELETE, COPY or MOVE. This hook is on only while a request is inside the engine.
 *
 * How: the engine's work for a request runs in an async resource of its own, marked with the request's
 * scope; while any such request is in flight, an `init` hook marks every async resource created while a
 * marked one runs with the same scope (a property on the resource, as `AsyncLocalStorage` propagates its
 * store: nothing to look up or clean up, it goes with the resource). An uncaught exception thrown while a
 * marked resource runs goes to that request's handler. An uncaught exception of anything else is left as
 * it was: to the application's own `uncaughtException` listeners if it has any, else the process crashes
 * as Node would (the error printed, exit code 1).
 */

const SCOPE = Symbol('beamline.webdav.requestScope');

/** One request inside the engine. */
interface Scope {
  /** Where its uncaught exceptions go; after the request ended, the light `afterEnd` handler. */
  onError: (error: unknown) => void;
  /** Whether resources created while it runs are still marked as its own. */
  open: boolean;
}

type Marked = object & { [SCOPE]?: Scope };

let inFlight = 0;
let listening = false;
let crashing = false;

const scopeOf = (resource: object): Scope | undefined => (resource as Marked)[SCOPE];

const hook = createHook({
  init(_asyncId, _type, _triggerAsyncId, resource: object) {
    const scope = scopeOf(executionAsyncResource());
    if (scope?.open) (resource as Marked)[SCOPE] = scope;
  },
});

function onUncaught(error: unknown): void {
  const scope = scopeOf(executionAsyncResource());
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
 * request is inside the engine, and a late throw of one of its callbacks goes to `afterEnd`, which must
 * not hold the request or its response (the connection may carry another request by then, and the
 * scope lives as long as any resource the request created).
 */
export function guardRequest(
  fn: () => void,
  onError: (error: unknown) => void,
  afterEnd: (error: unknown) => void,
): () => void {
  const scope: Scope = { onError, open: true };
  if (!listening && !crashing) {
    process.on('uncaughtException', onUncaught);
    listening = true;
  }
  if (inFlight === 0) hook.enable();
  inFlight += 1;
  const resource = new AsyncResource('BEAMLINE_WEBDAV_ENGINE');
  (resource as Marked)[SCOPE] = scope;
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
    scope.onError = afterEnd;
    inFlight -= 1;
    if (inFlight === 0) hook.disable();
    resource.emitDestroy();
  };
}
