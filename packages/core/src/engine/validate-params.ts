import type { Command } from '../contracts/command.js';
import type { StandardSchemaV1 } from '../contracts/standard-schema.js';
import { CoreError } from '../errors/core-error.js';

/**
 * Checks a step's resolved `with:` against its command's schema; the error names the step, each
 * offending parameter path and what was expected.
 */
export async function validateParams(
  command: Command,
  raw: unknown,
  stepId: string,
): Promise<unknown> {
  const result = await command.params['~standard'].validate(raw);
  if (result.issues === undefined) return result.value;
  const lines = result.issues.map((issue) => `  with.${formatPath(issue.path)}: ${issue.message}`);
  throw new CoreError(
    'CORE_PARAMS_INVALID',
    `Step "${stepId}" (${command.name}) has invalid parameters:\n${lines.join('\n')}`,
    { details: { stepId, command: command.name, issues: result.issues.map((i) => ({ ...i })) } },
  );
}

function formatPath(path: StandardSchemaV1.Issue['path']): string {
  if (path === undefined || path.length === 0) return '(root)';
  return path
    .map((segment) => (typeof segment === 'object' ? segment.key : segment))
    .map((key, index) => (typeof key === 'number' ? `[${key}]` : `${index === 0 ? '' : '.'}${String(key)}`))
    .join('');
}
