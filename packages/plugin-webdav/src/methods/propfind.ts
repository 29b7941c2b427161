import { encodeSegment } from '../http/request-path.js';
import { HttpError } from '../http/http-error.js';
import { parseXml } from '../http/xml.js';
import { listChildren } from '../server/children.js';
import { hrefOf, openForRead, type Scope } from '../server/scope.js';
import type { OpenedRead } from '../access/share-fs.js';
import type { QuotaInfo } from '../server/usage-tracker.js';
import type { LockRecord, PropertyRecord } from '../state/state-db.js';
import { checkIfHeader } from './conditions.js';
import {
  asksForQuota,
  compilePropfind,
  parsePropfind,
  type PropfindRequest,
  type ResourceFacts,
} from './properties.js';
import { header, MultistatusWriter, readBody } from './respond.js';

/** Depth of a PROPFIND: 0 or 1; `infinity` (also an absent header, which means it) is refused. */
export function propfindDepth(header: string | undefined): 0 | 1 {
  const value = header?.trim().toLowerCase();
  if (value === '0') return 0;
  if (value === '1') return 1;
  if (value === undefined || value === 'infinity')
    throw new HttpError(403, 'PROPFIND with Depth: infinity is not served', {}, '<D:propfind-finite-depth/>');
  throw new HttpError(400, 'Depth must be 0, 1 or infinity');
}

/** Reads and checks a PROPFIND's depth and body. */
async function readPropfind(scope: Scope): Promise<{ depth: 0 | 1; request: PropfindRequest }> {
  const depth = propfindDepth(header(scope.req, 'depth'));
  const body = await readBody(scope.req);
  const request = parsePropfind(body.length === 0 ? undefined : parseXml(body));
  return { depth, request };
}

function byPath(records: readonly PropertyRecord[]): Map<string, Map<string, string>> {
  const map = new Map<string, Map<string, string>>();
  for (const record of records) {
    let props = map.get(record.path);
    if (!props) map.set(record.path, (props = new Map<string, string>()));
    props.set(record.key, record.xml);
  }
  return map;
}

/**
 * PROPFIND with Depth 0 or 1, streamed: the multistatus body is written while the folder is read
 * (batches of 256 members, with back-pressure), so memory does not grow with the folder.
 */
export async function handlePropfind(scope: Scope): Promise<void> {
  const { core, share } = scope;
  const { depth, request } = await readPropfind(scope);
  const opened = openForRead(core, scope.principal, share, scope.segments);
  if (!opened) throw new HttpError(404, 'not found');
  try {
    await respond(scope, depth, request, opened);
  } finally {
    opened.close();
  }
}

async function respond(
  scope: Scope,
  depth: 0 | 1,
  request: PropfindRequest,
  resolved: OpenedRead,
): Promise<void> {
  const { core, share } = scope;
  checkIfHeader(scope, undefined);
  const render = compilePropfind(request);
  const quota: QuotaInfo | undefined = asksForQuota(request) ? await core.usage.quota(share) : undefined;
  const now = core.now();
  const place = { share: share.name, path: scope.path };
  const lockHref = (lock: LockRecord): string =>
    hrefOf(scope.base, share, lock.path === '' ? [] : lock.path.split('/'), false);
  const writer = new MultistatusWriter(scope.res);
  const own = byPath(core.db.properties(share.name, scope.path)).get(scope.path);
  const self: ResourceFacts = {
    href: hrefOf(scope.base, share, scope.segments, resolved.stats.isDirectory()),
    stats: resolved.stats,
    collection: resolved.stats.isDirectory(),
    name: scope.segments.at(-1) ?? share.settings.segments.at(-1) ?? '/',
    dead: own,
    locks: core.locks.covering(place),
    lockHref,
    quota,
    now,
  };
  await writer.add(render(self));
  if (depth === 1 && resolved.stats.isDirectory()) {
    const childProps = byPath(core.db.childProperties(share.name, scope.path));
    const anyLocks = self.locks.length > 0 || core.locks.below(place).length > 0;
    const prefix = hrefOf(scope.base, share, scope.segments, true);
    const pathPrefix = scope.path === '' ? '' : `${scope.path}/`;
    const folder = { fd: resolved.fd, real: resolved.realPath };
    for await (const batch of listChildren(core, scope.principal, share, scope.segments, folder)) {
      let xml = '';
      for (const member of batch) {
        const path = pathPrefix + member.name;
        const collection = member.stats.isDirectory();
        xml += render({
          href: `${prefix}${encodeSegment(member.name)}${collection ? '/' : ''}`,
          stats: member.stats,
          collection,
          name: member.name,
          dead: childProps.get(path),
          locks: anyLocks ? core.locks.covering({ share: share.name, path }) : NO_LOCKS,
          lockHref,
          quota,
          now,
        });
      }
      await writer.add(xml);
    }
  }
  await writer.end();
}

const NO_LOCKS: readonly LockRecord[] = [];
