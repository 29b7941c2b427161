import { HttpError } from '../http/http-error.js';
import { parseRequestPath } from '../http/request-path.js';
import type { ServerCore, ShareRuntime } from './scope.js';

/** Where a request path leads. */
export type Route =
  | { readonly kind: 'share'; readonly share: ShareRuntime; readonly segments: readonly string[] }
  /** Above the shares (`/` when shares are `/data` and `/data-wip`): a virtual collection listing them. */
  | { readonly kind: 'virtual'; readonly segments: readonly string[] };

/** Routes path segments (after the mount path) to a share, or to the virtual collection above the shares. */
export function route(core: ServerCore, segments: readonly string[]): Route | undefined {
  for (const share of core.shares) {
    const prefix = share.settings.segments;
    if (prefix.length <= segments.length && prefix.every((segment, index) => segments[index] === segment))
      return { kind: 'share', share, segments: segments.slice(prefix.length) };
  }
  for (const share of core.shares) {
    const prefix = share.settings.segments;
    if (segments.length < prefix.length && segments.every((segment, index) => prefix[index] === segment))
      return { kind: 'virtual', segments };
  }
  return undefined;
}

/**
 * Routes a URL from a header (`Destination`, an `If` resource tag): an absolute URL must name this
 * server's host (502 otherwise, as RFC 4918 says for COPY/MOVE to another server), a path must lie
 * under the mount path. Undefined when it names no share.
 */
export function routeUrl(
  core: ServerCore,
  base: readonly string[],
  url: string,
  host: string | undefined,
): { share: ShareRuntime; segments: readonly string[]; trailingSlash: boolean } | undefined {
  const absolute = /^https?:\/\/([^/?#]*)/i.exec(url);
  if (absolute && host !== undefined && absolute[1]?.toLowerCase() !== host.toLowerCase())
    throw new HttpError(502, 'the destination is on another server');
  const parsed = parseRequestPath(url);
  if (!base.every((segment, index) => parsed.segments[index] === segment)) return undefined;
  const found = route(core, parsed.segments.slice(base.length));
  if (found?.kind !== 'share') return undefined;
  return { share: found.share, segments: found.segments, trailingSlash: parsed.trailingSlash };
}
