import { etagOf } from '../http/conditional.js';
import { HttpError } from '../http/http-error.js';
import { DAV, elements, escapeXml, parseXml, propertyKey, serializeElement } from '../http/xml.js';
import { hrefOf, type Scope } from '../server/scope.js';
import { checkIfHeader } from './conditions.js';
import { emptyElement, isLiveProperty, type PropertyName } from './properties.js';
import { MultistatusWriter, readBody, statusLine } from './respond.js';

interface Instruction {
  readonly name: PropertyName;
  readonly set: string | undefined;
}

/**
 * PROPPATCH: every `set` and `remove` of the body, in document order, applied all or nothing (one
 * transaction); live and DAV: properties are protected (403, the others 424). Dead properties keep
 * their value exactly (namespaces, attributes, nested elements, any Unicode) and survive restarts, COPY
 * and MOVE. Any number of `set`/`remove` blocks (webdav-server 2.6.3 crashed on more than one).
 */
export async function handleProppatch(scope: Scope): Promise<void> {
  const { core, share } = scope;
  const target = await share.fs.statForWrite(scope.segments);
  if (!target.existing) throw new HttpError(404, 'not found');
  checkIfHeader(scope, target.existing.isFile() ? etagOf(target.existing) : undefined);
  core.locks.assertCanModify({ share: share.name, path: scope.path }, scope.tokens, {
    hrefOf: (lock) => hrefOf(scope.base, share, lock.path === '' ? [] : lock.path.split('/'), false),
  });
  const body = await readBody(scope.req);
  if (body.length === 0) throw new HttpError(400, 'PROPPATCH needs a DAV:propertyupdate body');
  const root = parseXml(body);
  if (root.ns !== DAV || root.local !== 'propertyupdate')
    throw new HttpError(400, 'expected a DAV:propertyupdate body');
  const instructions: Instruction[] = [];
  for (const block of elements(root)) {
    if (block.ns !== DAV || (block.local !== 'set' && block.local !== 'remove'))
      throw new HttpError(400, 'DAV:propertyupdate holds only DAV:set and DAV:remove');
    const props = elements(block);
    if (props.length !== 1 || props[0]?.ns !== DAV || props[0].local !== 'prop')
      throw new HttpError(400, `DAV:${block.local} holds one DAV:prop`);
    for (const property of elements(props[0]))
      instructions.push({
        name: { ns: property.ns, local: property.local },
        set: block.local === 'set' ? serializeElement(property) : undefined,
      });
  }
  const refused = instructions.filter((item) => isLiveProperty(item.name.ns, item.name.local));
  const set = new Map<string, string>();
  const remove = new Set<string>();
  if (refused.length === 0) {
    for (const item of instructions) {
      const key = propertyKey(item.name.ns, item.name.local);
      if (item.set === undefined) {
        set.delete(key);
        remove.add(key);
      } else {
        remove.delete(key);
        set.set(key, item.set);
      }
    }
    core.db.patchProperties(share.name, scope.path, set, remove);
  }
  const writer = new MultistatusWriter(scope.res);
  const href = hrefOf(scope.base, share, scope.segments, target.existing.isDirectory());
  const names = (list: readonly Instruction[]): string =>
    list.map((item) => emptyElement(item.name)).join('');
  let xml = `<D:response><D:href>${escapeXml(href)}</D:href>`;
  if (refused.length === 0) {
    if (instructions.length > 0)
      xml += `<D:propstat><D:prop>${names(instructions)}</D:prop><D:status>${statusLine(200)}</D:status></D:propstat>`;
  } else {
    const others = instructions.filter((item) => !refused.includes(item));
    xml += `<D:propstat><D:prop>${names(refused)}</D:prop><D:status>${statusLine(403)}</D:status><D:responsedescription>live properties cannot be changed</D:responsedescription></D:propstat>`;
    if (others.length > 0)
      xml += `<D:propstat><D:prop>${names(others)}</D:prop><D:status>${statusLine(424)}</D:status></D:propstat>`;
  }
  await writer.add(`${xml}</D:response>`);
  await writer.end();
}
