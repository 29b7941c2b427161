import type { BigIntStats } from 'node:fs';
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
  readonly stats: BigIntStats | undefined;
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

/** The value of a live property (an element), or undefined when the resource has none. */
function liveValue(name: PropertyName, facts: ResourceFacts): string | undefined {
  const { stats } = facts;
  if (name.ns === APACHE) {
    if (name.local !== 'executable' || !stats || facts.collection) return undefined;
    return `<A:executable xmlns:A="${APACHE}">${(Number(stats.mode) & 0o111) !== 0 ? 'T' : 'F'}</A:executable>`;
  }
  if (name.ns !== DAV) return undefined;
  const element = (value: string): string => `<D:${name.local}>${value}</D:${name.local}>`;
  switch (name.local) {
    case 'resourcetype':
      return facts.collection ? '<D:resourcetype><D:collection/></D:resourcetype>' : '<D:resourcetype/>';
    case 'displayname':
      return element(escapeXml(facts.name));
    case 'getlastmodified':
      return element(new Date(stats ? Number(stats.mtimeMs) : facts.now).toUTCString());
    case 'creationdate': {
      if (!stats) return undefined;
      const birth = Number(stats.birthtimeMs) > 0 ? Number(stats.birthtimeMs) : Number(stats.ctimeMs);
      return element(new Date(birth).toISOString().replace(/\.\d{3}Z$/, 'Z'));
    }
    case 'getcontentlength':
      return stats && !facts.collection ? element(String(stats.size)) : undefined;
    case 'getcontenttype':
      return facts.collection
        ? undefined
        : element(escapeXml(mime.contentType(facts.name) || 'application/octet-stream'));
    case 'getetag':
      return stats && !facts.collection ? element(escapeXml(etagOf(stats))) : undefined;
    case 'supportedlock':
      return stats ? element(SUPPORTED_LOCK) : '<D:supportedlock/>';
    case 'lockdiscovery':
      return element(facts.locks.map((lock) => activeLock(lock, facts.lockHref(lock), facts.now)).join(''));
    case 'quota-available-bytes':
      return facts.quota ? element(String(facts.quota.available)) : undefined;
    case 'quota-used-bytes':
      return facts.quota ? element(String(facts.quota.used)) : undefined;
    default:
      return undefined;
  }
}

/** One `<D:response>` for a resource. */
export function propfindResponse(request: PropfindRequest, facts: ResourceFacts): string {
  const found: string[] = [];
  const missing: string[] = [];
  if (request.kind === 'propname') {
    for (const name of LIVE) if (liveValue(name, facts) !== undefined) found.push(emptyElement(name));
    for (const key of facts.dead?.keys() ?? []) found.push(emptyElement(keyParts(key)));
  } else {
    const names = request.kind === 'prop' ? request.names : [...LIVE, ...request.include];
    const seen = new Set<string>();
    for (const name of names) {
      const key = propertyKey(name.ns, name.local);
      if (seen.has(key)) continue;
      seen.add(key);
      const value = liveValue(name, facts) ?? (request.kind === 'prop' ? facts.dead?.get(key) : undefined);
      if (value !== undefined) found.push(value);
      else if (request.kind === 'prop' || (!facts.dead?.has(key) && request.include.includes(name)))
        missing.push(emptyElement(name));
    }
    if (request.kind === 'allprop')
      for (const [key, xml] of facts.dead ?? []) if (!PROTECTED.has(key)) found.push(xml);
  }
  let xml = `<D:response><D:href>${escapeXml(facts.href)}</D:href>`;
  if (found.length > 0 || missing.length === 0)
    xml += `<D:propstat><D:prop>${found.join('')}</D:prop><D:status>${statusLine(200)}</D:status></D:propstat>`;
  if (missing.length > 0)
    xml += `<D:propstat><D:prop>${missing.join('')}</D:prop><D:status>${statusLine(404)}</D:status></D:propstat>`;
  return `${xml}</D:response>`;
}

/** Whether a request asks for the quota properties (then they are computed once for it). */
export function asksForQuota(request: PropfindRequest): boolean {
  if (request.kind === 'propname') return false;
  const names = request.kind === 'prop' ? request.names : request.include;
  return names.some((name) => name.ns === DAV && name.local.startsWith('quota-'));
}
