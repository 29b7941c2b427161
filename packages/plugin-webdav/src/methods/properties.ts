import type { BigIntStats, Stats } from 'node:fs';
import mime from 'mime-types';
import { etagOf } from '../http/conditional.js';
import { HttpError } from '../http/http-error.js';
import { child, DAV, elements, escapeXml, propertyKey, type XmlElement } from '../http/xml.js';
import type { LockRecord } from '../state/state-db.js';
import type { QuotaInfo } from '../server/usage-tracker.js';
import { statusLine } from './respond.js';

/** What a PROPFIND asks for. */
export type PropfindRequest =
  | { readonly kind: 'allprop'; readonly include: readonly PropertyName[] }
  | { readonly kind: 'propname' }
  | { readonly kind: 'prop'; readonly names: readonly PropertyName[] };

/** A property name: namespace URI and local name. */
export interface PropertyName {
  readonly ns: string;
  readonly local: string;
}

const APACHE = 'http://apache.org/dav/props/';

/** Live properties of a resource; quota ones only when asked for by name (RFC 4331). */
const LIVE: readonly PropertyName[] = [
  { ns: DAV, local: 'creationdate' },
  { ns: DAV, local: 'displayname' },
  { ns: DAV, local: 'getcontentlength' },
  { ns: DAV, local: 'getcontenttype' },
  { ns: DAV, local: 'getetag' },
  { ns: DAV, local: 'getlastmodified' },
  { ns: DAV, local: 'lockdiscovery' },
  { ns: DAV, local: 'resourcetype' },
  { ns: DAV, local: 'supportedlock' },
  { ns: APACHE, local: 'executable' },
];
const QUOTA: readonly PropertyName[] = [
  { ns: DAV, local: 'quota-available-bytes' },
  { ns: DAV, local: 'quota-used-bytes' },
];
const QUOTA_KEYS = new Set(QUOTA.map((name) => propertyKey(name.ns, name.local)));
const PROTECTED = new Set([...LIVE, ...QUOTA].map((name) => propertyKey(name.ns, name.local)));

/** Whether a property is live (computed, never stored). */
export function isLiveProperty(ns: string, local: string): boolean {
  return PROTECTED.has(propertyKey(ns, local)) || ns === DAV;
}

/** Reads a PROPFIND body; an empty body is `allprop`. 400 for anything RFC 4918 does not define. */
export function parsePropfind(root: XmlElement | undefined): PropfindRequest {
  if (!root) return { kind: 'allprop', include: [] };
  if (root.ns !== DAV || root.local !== 'propfind') throw new HttpError(400, 'expected a DAV:propfind body');
  const [first, ...rest] = elements(root);
  if (!first || first.ns !== DAV) throw new HttpError(400, 'expected DAV:prop, DAV:allprop or DAV:propname');
  if (first.local === 'propname' && rest.length === 0) return { kind: 'propname' };
  if (first.local === 'allprop') {
    const include = child(root, DAV, 'include');
    if (rest.length > (include ? 1 : 0)) throw new HttpError(400, 'unexpected elements after DAV:allprop');
    return {
      kind: 'allprop',
      include: include ? elements(include).map(({ ns, local }) => ({ ns, local })) : [],
    };
  }
  if (first.local === 'prop' && rest.length === 0)
    return { kind: 'prop', names: elements(first).map(({ ns, local }) => ({ ns, local })) };
  throw new HttpError(400, 'expected DAV:prop, DAV:allprop or DAV:propname');
}

/** Everything known about one resource, to answer a PROPFIND with. */
export interface ResourceFacts {
  readonly href: string;
  /** Undefined for the virtual collection above the shares. */
  readonly stats: Stats | BigIntStats | undefined;
  readonly collection: boolean;
  readonly name: string;
  /** Dead properties: `{ns}local` → serialized element. */
  readonly dead: ReadonlyMap<string, string> | undefined;
  readonly locks: readonly LockRecord[];
  readonly lockHref: (lock: LockRecord) => string;
  readonly quota: QuotaInfo | undefined;
  readonly now: number;
}

/** `<a:local xmlns:a="ns"/>`: an empty element for a property name. */
export function emptyElement(name: PropertyName): string {
  if (name.ns === DAV) return `<D:${name.local}/>`;
  if (name.ns === '') return `<${name.local} xmlns=""/>`;
  return `<R:${name.local} xmlns:R="${escapeXml(name.ns)}"/>`;
}

function keyParts(key: string): PropertyName {
  const end = key.indexOf('}');
  return { ns: key.slice(1, end), local: key.slice(end + 1) };
}

/** `<D:activelock>` of a lock. */
export function activeLock(lock: LockRecord, href: string, now: number): string {
  const seconds = Math.max(0, Math.round((lock.expiresAt - now) / 1000));
  return (
    `<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope><D:${lock.scope}/></D:lockscope>` +
    `<D:depth>${lock.depth === 0 ? '0' : 'infinity'}</D:depth>${lock.owner ?? ''}<D:timeout>Second-${seconds}</D:timeout>` +
    `<D:locktoken><D:href>${escapeXml(lock.token)}</D:href></D:locktoken><D:lockroot><D:href>${escapeXml(href)}</D:href></D:lockroot></D:activelock>`
  );
}

const SUPPORTED_LOCK =
  '<D:lockentry><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>' +
  '<D:lockentry><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>';

type LiveRender = (facts: ResourceFacts) => string | undefined;

const contentTypes = new Map<string, string>();

/** Content type by file name, cached per extension (a listing asks for thousands, GETs one each). */
export function contentTypeOf(name: string): string {
  const dot = name.lastIndexOf('.');
  const extension = dot === -1 ? '' : name.slice(dot).toLowerCase();
  let type = contentTypes.get(extension);
  if (type === undefined) {
    type = (extension !== '' && mime.contentType(extension)) || 'application/octet-stream';
    if (contentTypes.size < 1000) contentTypes.set(extension, type);
  }
  return type;
}

/**
 * A date formatter remembering its last second: the members of a folder were mostly written within
 * the same few seconds, and a listing of 10,000 formats two dates for each.
 */
function perSecond(format: (second: number) => string): (ms: number) => string {
  let lastSecond = Number.NaN;
  let last = '';
  return (ms) => {
    const second = Math.floor(ms / 1000);
    if (second !== lastSecond) {
      last = format(second);
      lastSecond = second;
    }
    return last;
  };
}

/** `Sun, 06 Dec 2026 23:10:59 GMT` (RFC 9110 date, whole seconds). */
const httpDate = perSecond((second) => new Date(second * 1000).toUTCString());
/** `2026-12-06T23:10:59Z` (RFC 3339, whole seconds). */
const isoDate = perSecond((second) => new Date(second * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'));

/** How each live property is written, by `{ns}local` key. */
const LIVE_RENDER = new Map<string, LiveRender>([
  [
    propertyKey(DAV, 'resourcetype'),
    (facts) => (facts.collection ? '<D:resourcetype><D:collection/></D:resourcetype>' : '<D:resourcetype/>'),
  ],
  [propertyKey(DAV, 'displayname'), (facts) => `<D:displayname>${escapeXml(facts.name)}</D:displayname>`],
  [
    propertyKey(DAV, 'getlastmodified'),
    (facts) =>
      `<D:getlastmodified>${httpDate(facts.stats ? Number(facts.stats.mtimeMs) : facts.now)}</D:getlastmodified>`,
  ],
  [
    propertyKey(DAV, 'creationdate'),
    ({ stats }) => {
      if (!stats) return undefined;
      const birth = Number(stats.birthtimeMs) > 0 ? Number(stats.birthtimeMs) : Number(stats.ctimeMs);
      return `<D:creationdate>${isoDate(birth)}</D:creationdate>`;
    },
  ],
  [
    propertyKey(DAV, 'getcontentlength'),
    ({ stats, collection }) =>
      stats && !collection ? `<D:getcontentlength>${stats.size}</D:getcontentlength>` : undefined,
  ],
  [
    propertyKey(DAV, 'getcontenttype'),
    ({ collection, name }) =>
      collection ? undefined : `<D:getcontenttype>${escapeXml(contentTypeOf(name))}</D:getcontenttype>`,
  ],
  [
    propertyKey(DAV, 'getetag'),
    ({ stats, collection }) => (stats && !collection ? `<D:getetag>${etagOf(stats)}</D:getetag>` : undefined),
  ],
  [
    propertyKey(DAV, 'supportedlock'),
    ({ stats }) => (stats ? `<D:supportedlock>${SUPPORTED_LOCK}</D:supportedlock>` : '<D:supportedlock/>'),
  ],
  [
    propertyKey(DAV, 'lockdiscovery'),
    (facts) =>
      facts.locks.length === 0
        ? '<D:lockdiscovery/>'
        : `<D:lockdiscovery>${facts.locks.map((lock) => activeLock(lock, facts.lockHref(lock), facts.now)).join('')}</D:lockdiscovery>`,
  ],
  [
    propertyKey(DAV, 'quota-available-bytes'),
    ({ quota }) =>
      quota ? `<D:quota-available-bytes>${quota.available}</D:quota-available-bytes>` : undefined,
  ],
  [
    propertyKey(DAV, 'quota-used-bytes'),
    ({ quota }) => (quota ? `<D:quota-used-bytes>${quota.used}</D:quota-used-bytes>` : undefined),
  ],
  [
    propertyKey(APACHE, 'executable'),
    ({ stats, collection }) =>
      !stats || collection
        ? undefined
        : `<A:executable xmlns:A="${APACHE}">${(Number(stats.mode) & 0o111) !== 0 ? 'T' : 'F'}</A:executable>`,
  ],
]);

interface Wanted {
  readonly key: string;
  readonly live: LiveRender | undefined;
  readonly empty: string;
}

/** Renders one `<D:response>` per resource for a PROPFIND, its property list worked out once per request. */
export type PropfindRenderer = (facts: ResourceFacts) => string;

/** Prepares the rendering of a PROPFIND's responses (names deduplicated, live writers looked up once). */
export function compilePropfind(request: PropfindRequest): PropfindRenderer {
  const seen = new Set<string>();
  const wanted: Wanted[] = [];
  const names =
    request.kind === 'prop'
      ? request.names
      : request.kind === 'allprop'
        ? [...LIVE, ...request.include]
        : [...LIVE, ...QUOTA];
  for (const name of names) {
    const key = propertyKey(name.ns, name.local);
    if (seen.has(key)) continue;
    seen.add(key);
    wanted.push({ key, live: LIVE_RENDER.get(key), empty: emptyElement(name) });
  }
  const included = new Set(
    request.kind === 'allprop' ? request.include.map((n) => propertyKey(n.ns, n.local)) : [],
  );
  const ok = `<D:status>${statusLine(200)}</D:status></D:propstat>`;
  const notFound = `<D:status>${statusLine(404)}</D:status></D:propstat>`;
  return (facts) => {
    let found = '';
    let missing = '';
    if (request.kind === 'propname') {
      // Quota properties are named (RFC 4331 §2: every resource has them here) without computing them.
      for (const item of wanted)
        if (QUOTA_KEYS.has(item.key) || item.live?.(facts) !== undefined) found += item.empty;
      if (facts.dead) for (const key of facts.dead.keys()) found += emptyElement(keyParts(key));
    } else {
      const dead = facts.dead;
      for (const item of wanted) {
        const value = item.live
          ? item.live(facts)
          : request.kind === 'prop'
            ? dead?.get(item.key)
            : undefined;
        if (value !== undefined) found += value;
        else if (request.kind === 'prop' || (included.has(item.key) && !dead?.has(item.key)))
          missing += item.empty;
      }
      if (request.kind === 'allprop' && dead)
        for (const [key, xml] of dead) if (!PROTECTED.has(key)) found += xml;
    }
    // Hrefs are percent-encoded paths: nothing in them needs XML escaping.
    let xml = `<D:response><D:href>${facts.href}</D:href>`;
    if (found !== '' || missing === '') xml += `<D:propstat><D:prop>${found}</D:prop>${ok}`;
    if (missing !== '') xml += `<D:propstat><D:prop>${missing}</D:prop>${notFound}`;
    return `${xml}</D:response>`;
  };
}

/** One `<D:response>` for a resource (see {@link compilePropfind} for many). */
export function propfindResponse(request: PropfindRequest, facts: ResourceFacts): string {
  return compilePropfind(request)(facts);
}

/** Whether a request asks for the quota properties (then they are computed once for it). */
export function asksForQuota(request: PropfindRequest): boolean {
  if (request.kind === 'propname') return false;
  const names = request.kind === 'prop' ? request.names : request.include;
  return names.some((name) => name.ns === DAV && name.local.startsWith('quota-'));
}
