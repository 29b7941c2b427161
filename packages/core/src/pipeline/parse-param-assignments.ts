import type { PipelineDefinition } from '../contracts/pipeline.js';
import { coerceParamValue } from './coerce-param-value.js';
import { didYouMean, listNames } from './did-you-mean.js';
import { paramsInvalidError } from './resolve-pipeline-params.js';
import { setOwn } from '../util/own-keys.js';

/**
 * Reads `--param NAME=VALUE` arguments into param values, converted by each param's declared type (JSON for
 * arrays and objects; an undeclared type keeps the string). The last assignment of a name wins.
 * Throws one `CORE_PARAMS_INVALID` listing every bad argument (no `=`, unknown param, wrong type).
 */
export function parseParamAssignments(
  assignments: readonly string[],
  definition: Pick<PipelineDefinition, 'name' | 'params'>,
): Record<string, unknown> {
  const declared = definition.params ?? {};
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const assignment of assignments) {
    const equals = assignment.indexOf('=');
    const name = equals < 0 ? '' : assignment.slice(0, equals).trim();
    if (name === '') {
      problems.push(`--param ${JSON.stringify(assignment)}: expected NAME=VALUE`);
      continue;
    }
    const param = Object.hasOwn(declared, name) ? declared[name] : undefined;
    if (!param) {
      const names = Object.keys(declared);
      problems.push(
        `--param ${name}: unknown param "${name}"${didYouMean(name, names)}; declared params: ${listNames(names)}`,
      );
      continue;
    }
    const coerced = coerceParamValue(param.type, assignment.slice(equals + 1));
    if (coerced.ok) setOwn(values, name, coerced.value);
    else
      problems.push(
        `--param ${name}: param "${name}" expects ${coerced.expected}, got ${JSON.stringify(assignment.slice(equals + 1))}`,
      );
  }
  if (problems.length > 0) throw paramsInvalidError(definition.name, problems);
  return values;
}
