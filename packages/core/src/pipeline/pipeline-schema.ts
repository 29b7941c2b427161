import { z } from 'zod';
import { didYouMean, listNames } from './did-you-mean.js';
import { describeValue, formatPath, type PathSegment, type PipelineIssue } from './pipeline-issue.js';
import { DURATION_EXPECTED, parseDuration } from './parse-duration.js';
import { MEMORY_EXPECTED, parseMemory } from './parse-memory.js';
import { PROTOTYPE_KEY, reservedKeyPaths } from '../util/own-keys.js';

/** Step ids, param names and matrix keys: usable in `${{ steps.<id> }}` paths and matrix instance ids. */
const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]*$/;

const expected = (what: string) => ({ error: `expected ${what}` });
const name = (what: string) =>
  z
    .string()
    .regex(NAME_PATTERN, expected(`a ${what} of letters, digits, '_' and '-' starting with a letter or '_'`));
const wholeNumber = (min: number) =>
  z.int(expected(`a whole number ≥ ${min}`)).min(min, expected(`a whole number ≥ ${min}`));
const atLeast = (min: number) =>
  z.number(expected(`a number ≥ ${min}`)).min(min, expected(`a number ≥ ${min}`));
const text = z.string(expected('a string'));
const flag = z.boolean(expected('true or false'));

const paramSchema = z.strictObject(
  {
    type: z
      .enum(
        ['string', 'number', 'boolean', 'array', 'object'],
        expected('one of string, number, boolean, array, object'),
      )
      .optional(),
    default: z.unknown().optional(),
    description: text.optional(),
    required: flag.optional(),
  },
  expected('a param declaration (an object with type, default, description, required)'),
);

const retrySchema = z.union(
  [
    wholeNumber(1),
    z.strictObject({
      attempts: wholeNumber(1).optional(),
      initialDelayMs: atLeast(0).optional(),
      coefficient: atLeast(1).optional(),
      maxDelayMs: atLeast(0).optional(),
      jitter: z
        .number(expected('a number from 0 to 1'))
        .min(0, expected('a number from 0 to 1'))
        .max(1, expected('a number from 0 to 1'))
        .optional(),
    }),
  ],
  expected('a number of attempts (a whole number ≥ 1) or a retry policy object'),
);

const memorySchema = z
  .union([z.string(), z.number()], expected(MEMORY_EXPECTED))
  .refine((value) => parseMemory(value) !== undefined, expected(MEMORY_EXPECTED));

const durationSchema = z
  .union([z.string(), z.number()], expected(DURATION_EXPECTED))
  .refine((value) => parseDuration(value) !== undefined, expected(DURATION_EXPECTED));

const resourcesSchema = z.strictObject(
  {
    cpus: z.number(expected('a number > 0')).positive(expected('a number > 0')).optional(),
    memory: memorySchema.optional(),
    gpus: wholeNumber(0).optional(),
    gpuOptional: flag.optional(),
  },
  expected('an object with cpus, memory, gpus, gpuOptional'),
);

const RUNS_ON_EXPECTED = 'a capability label (name or name=value) or a list of them';
const capabilityLabel = z
  .string(expected(RUNS_ON_EXPECTED))
  .regex(
    /^[A-Za-z0-9_.-]+(=[^\s,=]+)?$/,
    expected('a capability label: a name or name=value, without spaces or commas'),
  );

const stepIdList = z.array(text.min(1, expected('a step id')), expected('a step id or a list of step ids'));

const stepSchema = z.strictObject(
  {
    name: text.optional(),
    uses: z.string(expected('a command name')).min(1, expected('a command name')),
    with: z.record(z.string(), z.unknown(), expected('an object of command parameters')).optional(),
    needs: z
      .union([text.min(1, expected('a step id')), stepIdList], expected('a step id or a list of step ids'))
      .optional(),
    runner: z.string(expected('a runner name')).min(1, expected('a runner name')).optional(),
    resources: resourcesSchema.optional(),
    'runs-on': z
      .union(
        [capabilityLabel, z.array(capabilityLabel, expected(RUNS_ON_EXPECTED))],
        expected(RUNS_ON_EXPECTED),
      )
      .optional(),
    retry: retrySchema.optional(),
    timeout: durationSchema.optional(),
    cache: flag.optional(),
    matrix: z
      .record(
        name('matrix key'),
        z.union(
          [z.array(z.unknown()), z.string()],
          expected('a list of values or a "${{ params.<name> }}" expression'),
        ),
        expected('an object of matrix keys to lists'),
      )
      .refine((matrix) => Object.keys(matrix).length > 0, expected('at least one matrix key'))
      .optional(),
  },
  expected('a step (an object with uses, with, needs, …)'),
);

const pipelineHead = {
  name: z.string(expected('a pipeline name')).min(1, expected('a non-empty pipeline name')),
  description: text.optional(),
  params: z.record(name('param name'), paramSchema, expected('an object of param declarations')).optional(),
};
const pipelineExpected = expected('a pipeline (an object with name, params, steps)');

/** The structure of a pipeline file; semantic rules (needs, expressions, commands) are the planner's. */
const pipelineSchema = z.strictObject(
  {
    ...pipelineHead,
    steps: z
      .record(name('step id'), stepSchema, expected('an object of steps keyed by id'))
      .refine((steps) => Object.keys(steps).length > 0, expected('at least one step')),
  },
  pipelineExpected,
);

/** Everything of a pipeline but its steps. */
const headSchema = z.strictObject(pipelineHead, pipelineExpected);

type ZodIssue = z.core.$ZodIssue;

/** The keys an object schema allows at a path, for "did you mean" on unknown keys. */
function allowedKeysAt(schema: z.core.$ZodType, path: readonly PathSegment[]): string[] {
  if (schema instanceof z.ZodOptional) return allowedKeysAt(schema.unwrap(), path);
  if (schema instanceof z.ZodUnion) {
    return (schema.options as z.core.$ZodType[]).flatMap((option) => allowedKeysAt(option, path));
  }
  const [head, ...rest] = path;
  if (schema instanceof z.ZodObject) {
    if (head === undefined) return Object.keys(schema.shape);
    const shape = schema.shape as Record<string, z.core.$ZodType | undefined>;
    const child = Object.hasOwn(shape, head) ? shape[String(head)] : undefined;
    return child ? allowedKeysAt(child, rest) : [];
  }
  if (head === undefined) return [];
  if (schema instanceof z.ZodRecord) return allowedKeysAt(schema.valueType, rest);
  if (schema instanceof z.ZodArray) return allowedKeysAt(schema.element, rest);
  return [];
}

function withFound(message: string, input: unknown): string {
  return input === undefined ? `${message}, but it is missing` : `${message}, got ${describeValue(input)}`;
}

function toIssues(issue: ZodIssue, base: readonly PathSegment[]): PipelineIssue[] {
  const path = [...base, ...(issue.path as PathSegment[])];
  switch (issue.code) {
    case 'unrecognized_keys': {
      const allowed = allowedKeysAt(pipelineSchema, path);
      return issue.keys.map((key) => ({
        path: [...path, key],
        target: 'key' as const,
        message: `unknown key "${key}"${didYouMean(key, allowed)}; allowed: ${listNames(allowed)}`,
      }));
    }
    case 'invalid_union': {
      // The branch whose root type matched the value explains the problem best (`needs: [1]` → `needs[0]`).
      const matching = issue.errors.find(
        (branch) => !branch.some((i) => i.path.length === 0 && i.code === 'invalid_type'),
      );
      if (matching) return matching.flatMap((inner) => toIssues(inner, path));
      break;
    }
    case 'invalid_key':
      return [
        { path, target: 'key', message: withFound(issue.issues[0]?.message ?? issue.message, issue.input) },
      ];
    case 'invalid_type':
    case 'invalid_value':
    case 'invalid_format':
    case 'invalid_element':
    case 'not_multiple_of':
    case 'too_big':
    case 'too_small':
    case 'custom':
      break;
  }
  return [{ path, message: withFound(issue.message, issue.input) }];
}

/**
 * Whether a pipeline is valid, checked one step at a time: parsing a 100,000-step pipeline in one go
 * builds a full copy of it (zod returns the parsed value), which only the error report needs.
 */
function isValidShape(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const { steps, ...head } = value as Record<string, unknown>;
  if (typeof steps !== 'object' || steps === null || Array.isArray(steps)) return false;
  // What zod would not take for a record (a class instance, a `constructor` key) gets its full report.
  const prototype: unknown = Object.getPrototypeOf(steps);
  if ((prototype !== Object.prototype && prototype !== null) || Object.hasOwn(steps, 'constructor'))
    return false;
  if (!headSchema.safeParse(head).success) return false;
  const ids = Reflect.ownKeys(steps);
  return (
    ids.length > 0 &&
    ids.every(
      (id) =>
        typeof id === 'string' &&
        NAME_PATTERN.test(id) &&
        stepSchema.safeParse((steps as Record<string, unknown>)[id]).success,
    )
  );
}

/** What a `__proto__` key would have been, for its message. */
function reservedKeyRole(path: readonly PathSegment[]): string {
  if (path.length === 2 && path[0] === 'steps') return 'a step id';
  if (path.length === 2 && path[0] === 'params') return 'a param name';
  if (path.length === 4 && path[0] === 'steps' && path[2] === 'matrix') return 'a matrix key';
  if (path.length >= 4 && path[0] === 'steps' && path[2] === 'with') return "a key of a step's parameters";
  return 'a key';
}

/**
 * `__proto__` keys, anywhere: YAML and JSON give them as data, but no JavaScript object passes them on as
 * such (a schema library drops them, an assignment turns them into the object's prototype), so the step,
 * param or value would silently vanish.
 */
function reservedKeyIssues(value: unknown): PipelineIssue[] {
  return reservedKeyPaths(value).map((path) => ({
    path,
    target: 'key',
    message: `"${PROTOTYPE_KEY}" cannot be ${reservedKeyRole(path)}: JavaScript reserves it for an object's prototype; choose another name`,
  }));
}

/** Every structural issue of a pipeline value (parsed from a file or built in code); empty when valid. */
export function validatePipelineShape(value: unknown): PipelineIssue[] {
  const reserved = reservedKeyIssues(value);
  if (reserved.length === 0 && isValidShape(value)) return [];
  const result = pipelineSchema.safeParse(value, { reportInput: true });
  const issues = result.success ? [] : result.error.issues.flatMap((issue) => toIssues(issue, []));
  // zod leaves a `__proto__` key out of the objects it checks: a steps or matrix object that held only
  // that key is also reported as empty, and a strict object reports the key as unknown; the issue about
  // the key says it all.
  const explained = new Set(
    reserved.flatMap((issue) => [formatPath(issue.path), formatPath(issue.path.slice(0, -1))]),
  );
  return [...reserved, ...issues.filter((issue) => !explained.has(formatPath(issue.path)))];
}
