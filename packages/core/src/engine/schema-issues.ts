import type { StandardSchemaV1 } from '../contracts/standard-schema.js';
import { didYouMean, listNames } from '../pipeline/did-you-mean.js';
import { describeValue, type PathSegment, type PipelineIssue } from '../pipeline/pipeline-issue.js';

/**
 * Optional facts some schema libraries put on their Standard Schema issues (zod 4 does): the kind of
 * problem, the expected type, the alternatives of a union, the unknown keys of a strict object. Only read
 * when present; any other library's issues are reported by their path and message.
 */
interface IssueFacts {
  readonly code?: unknown;
  readonly expected?: unknown;
  readonly errors?: unknown;
  readonly keys?: unknown;
}

/**
 * A command's Standard Schema issues as pipeline issues: paths under `prefix` (`steps.<id>.with`), what was
 * found (read from `value`, the parameters that were validated), what was expected, and for an unknown key
 * the closest allowed one. Unions report the alternative the value came closest to, or the list of types
 * they accept.
 */
export function schemaIssuesToPipelineIssues(
  issues: readonly StandardSchemaV1.Issue[],
  value: unknown,
  schema: unknown,
  prefix: readonly PathSegment[],
): PipelineIssue[] {
  const known = topLevelKeys(schema);
  return issues.flatMap((issue) => describe(issue, [], value, known, prefix));
}

function describe(
  issue: StandardSchemaV1.Issue,
  base: readonly PathSegment[],
  value: unknown,
  known: readonly string[] | undefined,
  prefix: readonly PathSegment[],
): PipelineIssue[] {
  const facts = issue as IssueFacts;
  const path = [...base, ...segments(issue.path)];
  const found = valueAt(value, path);

  if (facts.code === 'unrecognized_keys' && isStringList(facts.keys)) {
    // Allowed names are only known for the top level (the command's own parameters).
    const candidates = path.length === 0 ? known : undefined;
    return facts.keys.map((key) => ({
      path: [...prefix, ...path, key],
      target: 'key' as const,
      message:
        `unknown parameter "${key}"${candidates ? didYouMean(key, candidates) : ''}` +
        (candidates ? `; allowed: ${listNames(candidates)}` : ''),
    }));
  }

  if (facts.code === 'invalid_union' && Array.isArray(facts.errors)) {
    const alternatives = (facts.errors as unknown[]).filter(isIssueList);
    // An alternative that failed below the union's own value is the one the value was meant to be (an
    // argv list with a number in it): its issues say more than "expected a string or a list".
    const deeper = alternatives.filter((alternative) =>
      alternative.some((inner) => segments(inner.path).length > 0),
    );
    if (deeper.length === 1)
      return deeper[0]!.flatMap((inner) => describe(inner, path, value, known, prefix));
    const expected = [...new Set(alternatives.flatMap((alternative) => alternative.map(expectation)))];
    if (expected.length > 0)
      return [{ path: [...prefix, ...path], message: withFound(`expected ${expected.join(' or ')}`, found) }];
  }

  if (facts.code === 'invalid_type' && typeof facts.expected === 'string') {
    return [
      { path: [...prefix, ...path], message: withFound(`expected ${typeName(facts.expected)}`, found) },
    ];
  }
  // Messages a pipeline author wrote themselves (refinements) stand as they are.
  const message = facts.code === 'custom' ? issue.message : withFound(issue.message, found);
  return [{ path: [...prefix, ...path], message }];
}

function withFound(message: string, found: unknown): string {
  return found === undefined ? `${message}, but it is missing` : `${message}, got ${describeValue(found)}`;
}

/** What one alternative of a union wanted, in words. */
function expectation(issue: StandardSchemaV1.Issue): string {
  const facts = issue as IssueFacts;
  if (facts.code === 'invalid_type' && typeof facts.expected === 'string') return typeName(facts.expected);
  return issue.message;
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  bigint: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  tuple: 'a list',
  object: 'an object',
  record: 'an object',
  map: 'an object',
  null: 'null',
  undefined: 'nothing',
  never: 'nothing (remove it)',
};

function typeName(expected: string): string {
  return TYPE_NAMES[expected] ?? `a ${expected}`;
}

function segments(path: StandardSchemaV1.Issue['path']): PathSegment[] {
  return (path ?? []).map((segment) => {
    const key = typeof segment === 'object' ? segment.key : segment;
    return typeof key === 'number' ? key : String(key);
  });
}

function valueAt(value: unknown, path: readonly PathSegment[]): unknown {
  let current = value;
  for (const segment of path) {
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, segment)) return undefined;
    current = (current as Record<PathSegment, unknown>)[segment];
  }
  return current;
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function isIssueList(value: unknown): value is StandardSchemaV1.Issue[] {
  return (
    Array.isArray(value) &&
    value.every(
      (item) =>
        typeof item === 'object' &&
        item !== null &&
        typeof (item as { message?: unknown }).message === 'string',
    )
  );
}

/** The parameter names an object schema declares: zod's `shape`, valibot's `entries`; undefined if unknown. */
function topLevelKeys(schema: unknown): string[] | undefined {
  const candidate = schema as {
    shape?: unknown;
    entries?: unknown;
    _zod?: { def?: { shape?: unknown; in?: { shape?: unknown } } };
  } | null;
  const shape = candidate?.shape ?? candidate?.entries ?? candidate?._zod?.def?.shape;
  return typeof shape === 'object' && shape !== null ? Object.keys(shape) : undefined;
}
