import { HttpError } from './http-error.js';

/** One condition of an `If` list: a state token or an entity tag, possibly negated. */
type IfCondition =
  | { readonly not: boolean; readonly kind: 'token'; readonly token: string }
  | { readonly not: boolean; readonly kind: 'etag'; readonly etag: string };

/** One list of an `If` header, tagged with a resource (`<url> (…)`) or not (`(…)`). */
export interface IfList {
  /** The resource tag as written (absolute URL or path), undefined for an untagged list. */
  readonly resource: string | undefined;
  readonly conditions: readonly IfCondition[];
}

const MAX_IF_LENGTH = 16 * 1024;
const MAX_LISTS = 64;

/**
 * Parses an `If` header (RFC 4918 §10.4): untagged lists `(<token> ["etag"])` or tagged lists
 * `<url> (…)`, each condition optionally negated with `Not`. A malformed header is a 400, never a
 * crash (webdav-server 2.6.3 died on untagged lists).
 */
export function parseIfHeader(header: string): IfList[] {
  if (header.length > MAX_IF_LENGTH) throw new HttpError(400, 'If header too long');
  const lists: IfList[] = [];
  let index = 0;
  let resource: string | undefined;
  let tagged: boolean | undefined;
  const fail = (what: string): never => {
    throw new HttpError(400, `malformed If header: ${what} at character ${index + 1}`);
  };
  const skipSpace = (): void => {
    while (index < header.length && /[ \t]/.test(header[index] ?? '')) index += 1;
  };
  const readCoded = (): string => {
    // "<" … ">" with no whitespace or ">" inside.
    const end = header.indexOf('>', index + 1);
    if (end === -1) fail('unterminated <');
    const value = header.slice(index + 1, end);
    if (value.length === 0 || /[\s<]/.test(value)) fail('invalid <…>');
    index = end + 1;
    return value;
  };
  skipSpace();
  if (index >= header.length) fail('empty header');
  while (index < header.length) {
    const char = header[index];
    if (char === '<') {
      if (tagged === false) fail('a tagged list after untagged ones');
      tagged = true;
      resource = readCoded();
      skipSpace();
      if (header[index] !== '(') fail('a resource tag without a list');
      continue;
    }
    if (char !== '(') fail(`unexpected ${JSON.stringify(char)}`);
    if (tagged === undefined) tagged = false;
    index += 1;
    const conditions: IfCondition[] = [];
    for (;;) {
      skipSpace();
      if (header[index] === ')') {
        index += 1;
        break;
      }
      let not = false;
      if (/^not(?=[\s<[])/i.test(header.slice(index, index + 4))) {
        not = true;
        index += 3;
        skipSpace();
      }
      const next = header[index];
      if (next === '<') conditions.push({ not, kind: 'token', token: readCoded() });
      else if (next === '[') {
        const end = header.indexOf(']', index + 1);
        if (end === -1) fail('unterminated [');
        const etag = header.slice(index + 1, end).trim();
        if (!/^(W\/)?"[^"]*"$/.test(etag)) fail('invalid entity tag');
        conditions.push({ not, kind: 'etag', etag });
        index = end + 1;
      } else fail(index >= header.length ? 'unterminated list' : `unexpected ${JSON.stringify(next)}`);
    }
    if (conditions.length === 0) fail('an empty list');
    lists.push({ resource: tagged ? resource : undefined, conditions });
    if (lists.length > MAX_LISTS) fail('too many lists');
    skipSpace();
  }
  return lists;
}

/** Every state token named anywhere in the lists (submitted lock tokens). */
export function submittedTokens(lists: readonly IfList[]): string[] {
  const tokens: string[] = [];
  for (const list of lists)
    for (const condition of list.conditions) if (condition.kind === 'token') tokens.push(condition.token);
  return tokens;
}
