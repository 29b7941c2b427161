import { CoreError } from '../errors/core-error.js';
import { formatPath, type PathSegment } from './pipeline-issue.js';

/** A parsed `${{ … }}` expression: a root name (`params`, `steps`, `matrix`) and a path below it. */
export interface ExpressionReference {
  root: string;
  path: PathSegment[];
}

/** A piece of a template string: literal text, or an expression with its canonical source. */
export type TemplatePart =
  { kind: 'text'; text: string } | { kind: 'expression'; reference: ExpressionReference };

/** An expression found in a value tree, with the path of the string that holds it. */
export interface FoundReference {
  path: PathSegment[];
  reference: ExpressionReference;
}

/** A string in a value tree whose expression does not parse. */
export interface FoundSyntaxError {
  path: PathSegment[];
  error: CoreError;
}

/**
 * Answers a reference: `{ value }` when known, `undefined` to keep the expression for later (partial mode
 * only; in final mode an unanswered reference is an error). May throw to report a reference that cannot resolve.
 */
export type ReferenceResolver = (reference: ExpressionReference) => { value: unknown } | undefined;

const OPEN = '${{';
const ESCAPED_OPEN = '$${{';
const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_-]/;

/** `params.x`, `steps.train.outputs.model`, `matrix.cfg['learning-rate'][0]`. */
export function formatReference(reference: ExpressionReference): string {
  return formatPath([reference.root, ...reference.path]);
}

/** `${{ params.x }}`. */
export function formatExpression(reference: ExpressionReference): string {
  return `${OPEN} ${formatReference(reference)} }}`;
}

class TemplateParser {
  private position = 0;
  private readonly parts: TemplatePart[] = [];
  private text = '';

  constructor(private readonly source: string) {}

  parse(): TemplatePart[] {
    while (this.position < this.source.length) {
      if (this.source.startsWith(ESCAPED_OPEN, this.position)) {
        this.text += OPEN;
        this.position += ESCAPED_OPEN.length;
      } else if (this.source.startsWith(OPEN, this.position)) {
        const start = this.position;
        this.position += OPEN.length;
        if (this.text !== '') this.parts.push({ kind: 'text', text: this.text });
        this.text = '';
        this.parts.push({ kind: 'expression', reference: this.expression(start) });
      } else {
        this.text += this.source[this.position] ?? '';
        this.position += 1;
      }
    }
    if (this.text !== '') this.parts.push({ kind: 'text', text: this.text });
    return this.parts;
  }

  private expression(start: number): ExpressionReference {
    this.skipSpaces();
    if (this.source.startsWith('}}', this.position))
      this.fail(start, 'empty expression, expected a path such as params.x');
    const root = this.name(start, 'a name such as params, steps or matrix');
    const path: PathSegment[] = [];
    for (;;) {
      const char = this.source[this.position];
      if (char === '.') {
        this.position += 1;
        path.push(this.name(start, "a name after '.'"));
      } else if (char === '[') {
        this.position += 1;
        path.push(this.index(start));
      } else {
        break;
      }
    }
    this.skipSpaces();
    if (!this.source.startsWith('}}', this.position)) {
      const found = this.describeHere();
      this.fail(
        start,
        `expected '}}' after ${formatPath([root, ...path])}, found ${found} (only paths like params.x, ` +
          `steps.<id>.outputs.<name>, matrix.<key> with [n] or ['key'] are allowed)`,
      );
    }
    this.position += 2;
    return { root, path };
  }

  private name(start: number, what: string): string {
    const first = this.position;
    if (!NAME_START.test(this.source[this.position] ?? ''))
      this.fail(start, `expected ${what}, found ${this.describeHere()}`);
    while (NAME_CHAR.test(this.source[this.position] ?? '')) this.position += 1;
    return this.source.slice(first, this.position);
  }

  private index(start: number): PathSegment {
    this.skipSpaces();
    const char = this.source[this.position] ?? '';
    let segment: PathSegment;
    if (char === "'" || char === '"') {
      const end = this.source.indexOf(char, this.position + 1);
      if (end < 0) this.fail(start, `unterminated quoted key, expected a closing ${char}`);
      segment = this.source.slice(this.position + 1, end);
      this.position = end + 1;
    } else if (/[0-9]/.test(char)) {
      const first = this.position;
      while (/[0-9]/.test(this.source[this.position] ?? '')) this.position += 1;
      segment = Number(this.source.slice(first, this.position));
    } else {
      this.fail(start, `expected an index [n] or a quoted key ['key'], found ${this.describeHere()}`);
    }
    this.skipSpaces();
    if (this.source[this.position] !== ']') this.fail(start, `expected ']', found ${this.describeHere()}`);
    this.position += 1;
    return segment;
  }

  private skipSpaces(): void {
    while (/\s/.test(this.source[this.position] ?? '')) this.position += 1;
  }

  private describeHere(): string {
    return this.position >= this.source.length ? 'the end of the string' : `'${this.source[this.position]}'`;
  }

  private fail(start: number, reason: string): never {
    const end = this.source.indexOf('}}', start);
    const expression = end < 0 ? this.source.slice(start) : this.source.slice(start, end + 2);
    throw new CoreError(
      'CORE_EXPRESSION_INVALID',
      `invalid expression ${expression} at column ${this.position + 1}: ${reason}`,
      { details: { text: this.source, expression, column: this.position + 1 } },
    );
  }
}

/**
 * Splits a string into literal text and `${{ … }}` expressions (`$${{` is a literal `${{`).
 * Throws `CORE_EXPRESSION_INVALID` with the column of the first syntax error.
 */
export function parseTemplate(text: string): TemplatePart[] {
  return new TemplateParser(text).parse();
}

/** Parses the inside of one expression: `steps.train.outputs.model` → its reference. */
export function parseExpression(expression: string): ExpressionReference {
  const parts = parseTemplate(`${OPEN} ${expression} }}`);
  const [only] = parts;
  if (parts.length !== 1 || only?.kind !== 'expression') {
    throw new CoreError(
      'CORE_EXPRESSION_INVALID',
      `invalid expression ${expression}: expected a single path`,
    );
  }
  return only.reference;
}

/** True when a string contains an expression (or an escaped `$${{`), i.e. is a template, not plain text. */
export function isTemplate(text: string): boolean {
  return text.includes(OPEN);
}

/** Walks strings in a value tree (arrays and plain objects), with their paths. */
function forEachString(
  value: unknown,
  path: PathSegment[],
  visit: (text: string, path: PathSegment[]) => void,
): void {
  if (typeof value === 'string') visit(value, path);
  else if (Array.isArray(value)) value.forEach((item, index) => forEachString(item, [...path, index], visit));
  else if (isPlainObject(value))
    for (const [key, item] of Object.entries(value)) forEachString(item, [...path, key], visit);
}

/** Every expression in a value tree, and every string whose expressions do not parse — for validation. */
export function listReferences(
  value: unknown,
  basePath: PathSegment[] = [],
): { references: FoundReference[]; errors: FoundSyntaxError[] } {
  const references: FoundReference[] = [];
  const errors: FoundSyntaxError[] = [];
  forEachString(value, basePath, (text, path) => {
    if (!isTemplate(text)) return;
    try {
      for (const part of parseTemplate(text))
        if (part.kind === 'expression') references.push({ path, reference: part.reference });
    } catch (error) {
      if (!(error instanceof CoreError)) throw error;
      errors.push({ path, error });
    }
  });
  return { references, errors };
}

/**
 * Calls `visit` with every expression in a value tree, in document order; strings whose expressions do not
 * parse are skipped (validation reports them). Unlike {@link listReferences} it builds no paths: the engine
 * runs it over every step of a plan.
 */
export function forEachReference(value: unknown, visit: (reference: ExpressionReference) => void): void {
  if (typeof value === 'string') {
    if (!isTemplate(value)) return;
    let parts: TemplatePart[];
    try {
      parts = parseTemplate(value);
    } catch (error) {
      if (error instanceof CoreError) return;
      throw error;
    }
    for (const part of parts) if (part.kind === 'expression') visit(part.reference);
  } else if (Array.isArray(value)) {
    for (const item of value as readonly unknown[]) forEachReference(item, visit);
  } else if (isPlainObject(value)) {
    // for…in rather than Object.keys: no array per object (a plain object has nothing enumerable to inherit).
    for (const key in value) if (Object.hasOwn(value, key)) forEachReference(value[key], visit);
  }
}

/** Follows a path into a value; `undefined` (as the value) where the path leads nowhere. */
export function lookupPath(value: unknown, path: readonly PathSegment[]): unknown {
  let current = value;
  for (const segment of path) {
    if (Array.isArray(current) && typeof segment === 'number') current = current[segment];
    else if (isPlainObject(current) && Object.hasOwn(current, segment)) current = current[String(segment)];
    else return undefined;
  }
  return current;
}

/** How a value reads inside a longer string: text as is, nothing for null/undefined, structures as JSON. */
export function interpolate(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  return JSON.stringify(value) ?? '';
}

function escapeText(text: string): string {
  // A function, because `$$` in a replacement string means a single `$`.
  return text.replaceAll(OPEN, () => ESCAPED_OPEN);
}

/** Makes a substituted value inert: its strings must not read as expressions when resolved again later. */
function escapeValue(value: unknown): unknown {
  if (typeof value === 'string') return escapeText(value);
  if (Array.isArray(value)) return value.map(escapeValue);
  if (isPlainObject(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, escapeValue(v)]));
  return value;
}

function resolveString(text: string, resolve: ReferenceResolver, mode: 'final' | 'partial'): unknown {
  if (!isTemplate(text)) return text;
  const parts = parseTemplate(text);
  const answer = (reference: ExpressionReference): { value: unknown } | undefined => {
    const resolved = resolve(reference);
    if (resolved === undefined && mode === 'final') {
      throw new CoreError('CORE_EXPRESSION_INVALID', `cannot resolve ${formatExpression(reference)}`, {
        details: { expression: formatReference(reference) },
      });
    }
    return resolved;
  };
  const [only] = parts;
  if (parts.length === 1 && only?.kind === 'expression') {
    // A string that is exactly one expression takes the value's own type (list, number, object).
    const resolved = answer(only.reference);
    if (resolved === undefined) return formatExpression(only.reference);
    return mode === 'final' ? resolved.value : escapeValue(resolved.value);
  }
  // Pieces joined at the end, not `+=`: V8 keeps a concatenation as a tree of the pieces, and a plan keeps
  // its strings (a 100,000-instance matrix held 30 MB of such trees until the strings were first read).
  const pieces: string[] = [];
  for (const part of parts) {
    if (part.kind === 'text') {
      pieces.push(mode === 'final' ? part.text : escapeText(part.text));
      continue;
    }
    const resolved = answer(part.reference);
    if (resolved === undefined) pieces.push(formatExpression(part.reference));
    else
      pieces.push(mode === 'final' ? interpolate(resolved.value) : escapeText(interpolate(resolved.value)));
  }
  return pieces.join('');
}

/**
 * Resolves the expressions of a value tree. `final`: every expression must resolve and the result is plain
 * data. `partial`: references the resolver leaves `undefined` stay as expressions and the result is still a
 * template (substituted text is escaped so that a later `final` pass does not read it as an expression).
 */
export function resolveExpressions(
  value: unknown,
  resolve: ReferenceResolver,
  mode: 'final' | 'partial' = 'final',
): unknown {
  if (typeof value === 'string') return resolveString(value, resolve, mode);
  if (Array.isArray(value)) return value.map((item) => resolveExpressions(item, resolve, mode));
  if (isPlainObject(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, resolveExpressions(item, resolve, mode)]),
    );
  }
  return value;
}

/** Objects as written in YAML/JSON (not class instances such as Date). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}
