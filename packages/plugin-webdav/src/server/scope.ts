import type { IncomingMessage, ServerResponse } from 'node:http';
import type { OpenedRead, ShareFs } from '../access/share-fs.js';
import type { Authenticator } from '../auth/authenticator.js';
import { ruleAllows, type AuthenticatedPrincipal } from '../auth/principal.js';
import type { ShareConfig, ShareSettings } from '../config/share-config.js';
import { HttpError } from '../http/http-error.js';
import type { IfList } from '../http/if-header.js';
import { encodePath } from '../http/request-path.js';
import type { LockManager } from '../state/lock-manager.js';
import type { StateDb } from '../state/state-db.js';
import type { Engine } from '../engine/engine.js';
import type { UsageTracker } from './usage-tracker.js';

/** A share while the server runs: its settings, its real folder and the folder held open. */
export interface ShareRuntime {
  /** The share's name: its URL path without the leading `/` (the key of its locks and properties). */
  readonly name: string;
  readonly settings: ShareSettings;
  /** `realpath` of the share's folder, taken when the server started. */
  readonly rootReal: string;
  readonly fs: ShareFs;
}

/** Whether a real path lies in a folder (or is it). */
function isInside(path: string, folder: string): boolean {
  return path === folder || path.startsWith(folder.endsWith('/') ? folder : `${folder}/`);
}

/** What every request handler may use. */
export interface ServerCore {
  readonly config: ShareConfig;
  readonly shares: readonly ShareRuntime[];
  readonly db: StateDb;
  readonly locks: LockManager;
  readonly auth: Authenticator;
  readonly engine: Engine;
  readonly usage: UsageTracker;
  readonly now: () => number;
  /** Reports something an operator should know (a request that threw, a leftover that could not be removed). */
  warn(message: string, details?: Record<string, unknown>): void;
}

/** One request on one share, after the path was checked and the client authenticated. */
export interface Scope {
  readonly core: ServerCore;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** Upper-case method. */
  readonly method: string;
  readonly principal: AuthenticatedPrincipal | undefined;
  /** URL segments in front of the shares (the mount path). */
  readonly base: readonly string[];
  readonly share: ShareRuntime;
  /** Path segments inside the share. */
  readonly segments: readonly string[];
  /** `segments.join('/')`: the key of the resource in locks and properties. */
  readonly path: string;
  readonly trailingSlash: boolean;
  /** The parsed `If` header, when there is one. */
  readonly ifLists: readonly IfList[] | undefined;
  /** Lock tokens the request submitted (`If` header, and `Lock-Token` as Office sends it on PUT). */
  readonly tokens: ReadonlySet<string>;
}

/** URL path of a resource in a share, as sent in responses (percent-encoded, `/` after collections). */
export function hrefOf(
  base: readonly string[],
  share: ShareRuntime,
  segments: readonly string[],
  collection: boolean,
): string {
  return encodePath([...base, ...share.settings.segments, ...segments], collection);
}

/** The refusal for a principal a rule does not admit: 401 with a challenge for anonymous, 403 otherwise. */
export function denied(
  core: ServerCore,
  principal: AuthenticatedPrincipal | undefined,
  what: string,
): HttpError {
  if (!principal) return new HttpError(401, `login required to ${what}`, core.auth.challenge());
  return new HttpError(403, `${principal.name} may not ${what}`);
}

/** Throws unless the principal may read the share. */
export function requireRead(
  core: ServerCore,
  principal: AuthenticatedPrincipal | undefined,
  share: ShareRuntime,
): void {
  if (!ruleAllows(share.settings.read, principal, core.config.groups))
    throw denied(core, principal, `read ${share.settings.path}`);
}

/** Throws unless the principal may write to the share. */
export function requireWrite(
  core: ServerCore,
  principal: AuthenticatedPrincipal | undefined,
  share: ShareRuntime,
): void {
  if (!ruleAllows(share.settings.write, principal, core.config.groups))
    throw denied(core, principal, `write to ${share.settings.path}`);
}

/** The share whose folder holds a real path (the innermost, if folders nest on disk). */
function shareOfRealPath(core: ServerCore, realPath: string): ShareRuntime | undefined {
  let found: ShareRuntime | undefined;
  for (const share of core.shares)
    if (isInside(realPath, share.rootReal) && (!found || share.rootReal.length > found.rootReal.length))
      found = share;
  return found;
}

/**
 * Opens a path of a share for reading (see {@link ShareFs.openRead}) and applies the rules where it
 * leads: a link whose target lies in another share's folder needs that share's read rule too (a link
 * from `/data` into `/data-wip` does not open `/data-wip` to anonymous readers). Undefined when nothing
 * is there. The caller closes it.
 */
export function openForRead(
  core: ServerCore,
  principal: AuthenticatedPrincipal | undefined,
  share: ShareRuntime,
  segments: readonly string[],
): OpenedRead | undefined {
  const opened = share.fs.openRead(segments);
  if (opened?.throughLink) {
    const target = shareOfRealPath(core, opened.realPath);
    if (target && target !== share) {
      try {
        requireRead(core, principal, target);
      } catch (error) {
        opened.close();
        throw error;
      }
    }
  }
  return opened;
}
