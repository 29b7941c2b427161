import { etagOf } from '../http/conditional.js';
import { HttpError } from '../http/http-error.js';
import type { IfList } from '../http/if-header.js';
import { routeUrl } from '../server/routing.js';
import type { Scope, ShareRuntime } from '../server/scope.js';

interface Subject {
  readonly share: ShareRuntime;
  readonly path: string;
  readonly etag: string | undefined;
}

function opaque(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

function subjectOf(scope: Scope, list: IfList, current: Subject): Subject | undefined {
  if (list.resource === undefined) return current;
  let located;
  try {
    located = routeUrl(scope.core, scope.base, list.resource, scope.req.headers.host);
  } catch {
    return undefined;
  }
  if (!located) return undefined;
  const path = located.segments.join('/');
  if (located.share === current.share && path === current.path) return current;
  let etag: string | undefined;
  try {
    const opened = located.share.fs.openRead(located.segments);
    opened?.close();
    etag = opened?.stats.isFile() ? etagOf(opened.stats) : undefined;
  } catch {
    etag = undefined;
  }
  return { share: located.share, path, etag };
}

/**
 * Evaluates the request's `If` header (RFC 4918 §10.4) against the resource it is about (or the tagged
 * ones): a state token holds when a live lock with that token covers the resource, an entity tag when
 * it is the resource's current one, `Not` negates; the header holds when one list holds. 412 otherwise.
 */
export function checkIfHeader(scope: Scope, etag: string | undefined): void {
  if (!scope.ifLists) return;
  const current: Subject = { share: scope.share, path: scope.path, etag };
  for (const list of scope.ifLists) {
    const subject = subjectOf(scope, list, current);
    if (!subject) continue;
    let holds = true;
    for (const condition of list.conditions) {
      let value: boolean;
      if (condition.kind === 'token')
        value = scope.core.locks
          .covering({ share: subject.share.name, path: subject.path })
          .some((lock) => lock.token === condition.token);
      else value = subject.etag !== undefined && opaque(condition.etag) === opaque(subject.etag);
      if (condition.not) value = !value;
      if (!value) {
        holds = false;
        break;
      }
    }
    if (holds) return;
  }
  throw new HttpError(412, 'the If header does not hold');
}
