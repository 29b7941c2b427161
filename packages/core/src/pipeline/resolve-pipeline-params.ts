import type { ParamDefinition } from '../contracts/pipeline.js';
import { CoreError } from '../errors/core-error.js';
import { coerceParamValue } from './coerce-param-value.js';
import { didYouMean, listNames } from './did-you-mean.js';
import { describeValue, type PipelineIssue } from './pipeline-issue.js';
import { setOwn } from '../util/own-keys.js';

/** The `CORE_PARAMS_INVALID` error listing every problem with the param values of a run. */
export function paramsInvalidError(pipeline: string, problems: readonly string[]): CoreError {
  return new CoreError(
    'CORE_PARAMS_INVALID',
    `Invalid params for pipeline ${pipeline}:\n  ${problems.join('\n  ')}`,
    {
      details: { pipeline, issues: [...problems] },
    },
  );
}

/** Declared defaults that do not fit their declared type: a fault of the pipeline, not of the run. */
export function checkParamDefaults(params: Record<string, ParamDefinition>): PipelineIssue[] {
  const issues: PipelineIssue[] = [];
  for (const [name, param] of Object.entries(params)) {
    if (param.default === undefined) continue;
    const coerced = coerceParamValue(param.type, param.default);
    if (!coerced.ok) {
      issues.push({
        path: ['params', name, 'default'],
        message: `expected ${coerced.expected} (the declared type), got ${describeValue(param.default)}`,
      });
    }
  }
  return issues;
}

/**
 * The param values of a run: given values and defaults, converted to the declared types. Throws one
 * `CORE_PARAMS_INVALID` naming every unknown, missing or ill-typed param. A param with neither a value nor a
 * default is left out (its expressions read as `undefined`) unless it is required.
 */
export function resolvePipelineParams(
  pipeline: string,
  declared: Record<string, ParamDefinition>,
  given: Record<string, unknown>,
): Record<string, unknown> {
  const names = Object.keys(declared);
  const problems: string[] = [];
  for (const name of Object.keys(given)) {
    if (!Object.hasOwn(declared, name)) {
      problems.push(
        `unknown param "${name}"${didYouMean(name, names)}; declared params: ${listNames(names)}`,
      );
    }
  }
  const values: Record<string, unknown> = {};
  for (const [name, param] of Object.entries(declared)) {
    const value = Object.hasOwn(given, name) && given[name] !== undefined ? given[name] : param.default;
    if (value === undefined) {
      if (param.required) problems.push(`param "${name}" is required${param.type ? ` (${param.type})` : ''}`);
      continue;
    }
    const coerced = coerceParamValue(param.type, value);
    if (coerced.ok) setOwn(values, name, coerced.value);
    else problems.push(`param "${name}" expects ${coerced.expected}, got ${describeValue(value)}`);
  }
  if (problems.length > 0) throw paramsInvalidError(pipeline, problems);
  return values;
}
