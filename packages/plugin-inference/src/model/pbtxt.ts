import { invalid } from '../errors/inference-error.js';

/** A value of protobuf text format: scalar, identifier (enum), message, or repeated values. */
export type PbValue = string | number | boolean | PbMessage | PbValue[];
/** A message of protobuf text format; a field given several times (or as `[…]`) holds an array. */
export interface PbMessage {
  [field: string]: PbValue;
}

interface Token {
  kind: 'ident' | 'string' | 'number' | 'punct';
  text: string;
  value: string | number;
  line: number;
  column: number;
}

const PUNCT = new Set(['{', '}', '[', ']', ':', ',', ';', '<', '>']);

function tokenize(text: string, source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const fail = (what: string): never => {
    throw invalid(`${source}:${line}:${i - lineStart + 1}: ${what}`);
  };
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '\n') {
      line += 1;
      i += 1;
      lineStart = i;
      continue;
    }
    if (ch === ' ' || ch === '\t' || ch === '\r') {
      i += 1;
      continue;
    }
    if (ch === '#') {
      while (i < text.length && text[i] !== '\n') i += 1;
      continue;
    }
    const column = i - lineStart + 1;
    if (PUNCT.has(ch)) {
      tokens.push({ kind: 'punct', text: ch, value: ch, line, column });
      i += 1;
      continue;
    }
    if (ch === '"' || ch === "'") {
      let value = '';
      let j = i + 1;
      for (;;) {
        if (j >= text.length || text[j] === '\n') fail('unterminated string');
        const c = text[j]!;
        if (c === ch) break;
        if (c === '\\') {
          const next = text[j + 1];
          const escapes: Record<string, string> = {
            n: '\n',
            t: '\t',
            r: '\r',
            '\\': '\\',
            '"': '"',
            "'": "'",
          };
          if (next === undefined || !Object.hasOwn(escapes, next)) fail(`unsupported escape \\${next ?? ''}`);
          value += escapes[next!];
          j += 2;
          continue;
        }
        value += c;
        j += 1;
      }
      tokens.push({ kind: 'string', text: text.slice(i, j + 1), value, line, column });
      i = j + 1;
      continue;
    }
    const word =
      /^[A-Za-z_][A-Za-z0-9_.]*|^[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|inf|nan)/.exec(
        text.slice(i, i + 400),
      );
    if (!word) fail(`unexpected character ${JSON.stringify(ch)}`);
    const textOf = word![0];
    if (/^[A-Za-z_]/.test(textOf)) tokens.push({ kind: 'ident', text: textOf, value: textOf, line, column });
    else tokens.push({ kind: 'number', text: textOf, value: Number(textOf), line, column });
    i += textOf.length;
  }
  return tokens;
}

/**
 * Parses protobuf text format (Triton's `config.pbtxt`) into plain objects: enum values as strings,
 * numbers as numbers, `true`/`false` as booleans, repeated fields as arrays. Errors name the file, line
 * and column.
 */
export function parsePbtxt(text: string, source = 'config.pbtxt'): PbMessage {
  const tokens = tokenize(text, source);
  let pos = 0;
  const where = (token: Token | undefined): string =>
    token ? `${source}:${token.line}:${token.column}` : `${source}: at the end`;
  const expect = (what: string): never => {
    const token = tokens[pos];
    throw invalid(
      `${where(token)}: expected ${what}, got ${token ? JSON.stringify(token.text) : 'the end of the file'}`,
    );
  };
  const isPunct = (text: string): boolean => tokens[pos]?.kind === 'punct' && tokens[pos]?.text === text;

  const parseScalar = (): PbValue => {
    const token = tokens[pos];
    if (!token || token.kind === 'punct') return expect('a value');
    pos += 1;
    if (token.kind === 'ident') {
      if (token.text === 'true' || token.text === 'True') return true;
      if (token.text === 'false' || token.text === 'False') return false;
    }
    if (token.kind === 'string') {
      // Adjacent strings concatenate, as in C.
      let value = token.value as string;
      while (tokens[pos]?.kind === 'string') value += tokens[pos++]!.value as string;
      return value;
    }
    return token.value;
  };

  const parseMessageBody = (close: string | undefined): PbMessage => {
    const message: PbMessage = {};
    for (;;) {
      if (close === undefined ? pos >= tokens.length : isPunct(close)) {
        if (close !== undefined) pos += 1;
        return message;
      }
      const name = tokens[pos];
      if (!name || name.kind !== 'ident')
        return expect(close === undefined ? 'a field name' : `a field name or "${close}"`);
      pos += 1;
      let value: PbValue;
      const colon = isPunct(':');
      if (colon) pos += 1;
      if (isPunct('{') || isPunct('<')) {
        const open = tokens[pos++]!.text;
        value = parseMessageBody(open === '{' ? '}' : '>');
      } else if (isPunct('[')) {
        // Triton's own configurations write `input [ … ]` without the colon; protobuf accepts both.
        pos += 1;
        const list: PbValue[] = [];
        while (!isPunct(']')) {
          if (isPunct('{') || isPunct('<')) {
            const open = tokens[pos++]!.text;
            list.push(parseMessageBody(open === '{' ? '}' : '>'));
          } else list.push(parseScalar());
          if (isPunct(',')) pos += 1;
          else if (!isPunct(']')) return expect('"," or "]"');
        }
        pos += 1;
        value = list;
      } else if (colon) value = parseScalar();
      else return expect(`":" or "{" after ${name.text}`);
      if (Object.hasOwn(message, name.text) && name.text !== '__proto__') {
        const previous = message[name.text]!;
        const items = Array.isArray(previous) ? previous : [previous];
        message[name.text] = Array.isArray(value) ? [...items, ...value] : [...items, value];
      } else if (name.text === '__proto__') {
        throw invalid(`${where(name)}: "__proto__" is not a field name`);
      } else message[name.text] = value;
      if (isPunct(',') || isPunct(';')) pos += 1;
    }
  };

  return parseMessageBody(undefined);
}
