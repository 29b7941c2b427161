import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthenticatedPrincipal } from '../auth/principal.js';
import { ruleAllows } from '../auth/principal.js';
import { HttpError } from '../http/http-error.js';
import { encodePath } from '../http/request-path.js';
import { parseXml } from '../http/xml.js';
import type { ServerCore } from '../server/scope.js';
import {
  LISTING_CSP,
  renderHtmlListing,
  renderJsonListing,
  wantsJson,
  type ListingEntry,
} from './listing.js';
import { parsePropfind, propfindResponse } from './properties.js';
import { propfindDepth } from './propfind.js';
import { header, MultistatusWriter, readBody } from './respond.js';

const READ_ONLY_ALLOW = 'OPTIONS, GET, HEAD, PROPFIND';

/**
 * The collection above the shares (`/` when the shares are `/data` and `/data-wip`): lists the next
 * path segment of each share the principal may read, so a browser or a client that mounts the root
 * finds them. Read-only.
 */
export async function handleVirtual(
  core: ServerCore,
  req: IncomingMessage,
  res: ServerResponse,
  method: string,
  principal: AuthenticatedPrincipal | undefined,
  base: readonly string[],
  segments: readonly string[],
): Promise<void> {
  const names = new Set<string>();
  for (const share of core.shares) {
    const prefix = share.settings.segments;
    if (!segments.every((segment, index) => prefix[index] === segment)) continue;
    if (!ruleAllows(share.settings.read, principal, core.config.groups)) continue;
    const next = prefix[segments.length];
    if (next !== undefined) names.add(next);
  }
  const urlSegments = [...base, ...segments];
  const now = core.now();
  switch (method) {
    case 'OPTIONS':
      res.statusCode = 200;
      res.setHeader('Allow', READ_ONLY_ALLOW);
      res.setHeader('Content-Length', 0);
      res.end();
      return;
    case 'GET':
    case 'HEAD': {
      const entries: ListingEntry[] = [...names].map((name) => ({
        name,
        directory: true,
        size: 0,
        modified: new Date(now),
        etag: undefined,
      }));
      const json = wantsJson(req.headers.accept);
      const body = json
        ? renderJsonListing(urlSegments, entries)
        : renderHtmlListing(urlSegments, entries, segments.length > 0);
      res.statusCode = 200;
      res.setHeader('Content-Type', json ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8');
      res.setHeader('Content-Length', Buffer.byteLength(body));
      res.setHeader('Cache-Control', 'no-cache');
      if (!json) res.setHeader('Content-Security-Policy', LISTING_CSP);
      res.end(method === 'HEAD' ? undefined : body);
      return;
    }
    case 'PROPFIND': {
      const depth = propfindDepth(header(req, 'depth'));
      const body = await readBody(req);
      const request = parsePropfind(body.length === 0 ? undefined : parseXml(body));
      const facts = (path: readonly string[]) => ({
        href: encodePath(path, true),
        stats: undefined,
        collection: true,
        name: path.at(-1) ?? '/',
        dead: undefined,
        locks: [],
        lockHref: () => '',
        quota: undefined,
        now,
      });
      const writer = new MultistatusWriter(res);
      await writer.add(propfindResponse(request, facts(urlSegments)));
      if (depth === 1)
        for (const name of names) await writer.add(propfindResponse(request, facts([...urlSegments, name])));
      await writer.end();
      return;
    }
    default:
      throw new HttpError(405, 'this is not a share: nothing can be written here', {
        Allow: READ_ONLY_ALLOW,
      });
  }
}
