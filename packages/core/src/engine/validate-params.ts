import type { Command } from '../contracts/command.js';
import type { Plan, PlannedStep } from '../contracts/pipeline.js';
import type { CoreError } from '../errors/core-error.js';
import { listReferences } from '../pipeline/expressions.js';
import {
  issuesError,
  locateIssues,
  type PipelineIssue,
  type SourceLocator,
} from '../pipeline/pipeline-issue.js';
import { resolveStepParams } from '../pipeline/resolve-step-params.js';
import { PROTOTYPE_KEY, reservedKeyPaths } from '../util/own-keys.js';
import { schemaIssuesToPipelineIssues } from './schema-issues.js';

/** Where a step's `with:` is written, so that parameter errors point into the file. */
export interface ParamsSource {
  /** The pipeline file (or a description of where the pipeline came from). */
  file?: string;
  /** Line and column of a path in that file (pipelines loaded with `loadPipelineFile`). */
  locate?: SourceLocator;
  /** The step's key in the pipeline's `steps` (a matrix instance's base id); default: the step id. */
  baseId?: string;
}

/**
 * Checks a step's resolved `with:` against its command's schema and returns the parsed value. The error,
 * `CORE_PARAMS_INVALID`, has the form of every pipeline error: `file:line:col steps.<id>.with.<path>:
 * expected …, got …`, with "did you mean" for a misspelt parameter.
 */
export async function validateParams(
  command: Command,
  raw: unknown,
  stepId: string,
  source: ParamsSource = {},
): Promise<unknown> {
  const reserved = reservedKeyIssues(raw, source.baseId ?? stepId);
  const result = await command.params['~standard'].validate(raw);
  if (result.issues === undefined && reserved.length === 0) return result.value;
  const issues = [...reserved, ...paramIssues(command, raw, source.baseId ?? stepId, result.issues ?? [])];
  throw paramsError(source, locateIssues(issues, source.locate), [stepId], command.name);
}

/**
 * Checks, before a run starts, the parameters of every step that does not wait for another step's outputs
 * (`${{ steps.… }}` resolve only when the step starts), and reports every problem at once.
 * @throws CoreError `CORE_PARAMS_INVALID`
 */
export async function checkPlanParams(
  plan: Plan,
  commandOf: (step: PlannedStep) => Command,
  source: ParamsSource = {},
): Promise<void> {
  const issues: PipelineIssue[] = [];
  const steps: string[] = [];
  const seen = new Set<string>();
  for (const step of plan.steps) {
    if (listReferences(step.with).references.length > 0) continue;
    const command = commandOf(step);
    const raw = resolveStepParams(step, () => undefined, plan);
    const reserved = reservedKeyIssues(raw, step.baseId);
    const result = await command.params['~standard'].validate(raw);
    if (result.issues === undefined && reserved.length === 0) continue;
    steps.push(step.id);
    for (const issue of [...reserved, ...paramIssues(command, raw, step.baseId, result.issues ?? [])]) {
      // Matrix instances share their lines in the file: one report each.
      const key = `${String(issue.path.join('\u0000'))}\u0001${issue.message}`;
      if (!seen.has(key)) issues.push(issue);
      seen.add(key);
    }
  }
  if (issues.length > 0) throw paramsError(source, locateIssues(issues, source.locate), steps);
}

/**
 * `__proto__` keys in resolved parameters. The file cannot hold them (`validatePipelineShape`), but a
 * substituted param or output value can; a schema library would silently drop the key.
 */
function reservedKeyIssues(raw: unknown, baseId: string): PipelineIssue[] {
  return reservedKeyPaths(raw).map((path) => ({
    path: ['steps', baseId, 'with', ...path],
    target: 'key' as const,
    message: `a substituted value holds the key "${PROTOTYPE_KEY}", which cannot be passed to a command (JavaScript reserves it for an object's prototype)`,
  }));
}

function paramIssues(
  command: Command,
  raw: unknown,
  baseId: string,
  issues: Parameters<typeof schemaIssuesToPipelineIssues>[0],
): PipelineIssue[] {
  return schemaIssuesToPipelineIssues(issues, raw, command.params, ['steps', baseId, 'with']);
}

function paramsError(
  source: ParamsSource,
  issues: PipelineIssue[],
  stepIds: readonly string[],
  command?: string,
): CoreError {
  const file = source.file ?? 'the pipeline';
  const which = stepIds.length === 1 ? `step "${stepIds[0]}"` : `${stepIds.length} steps`;
  return issuesError('CORE_PARAMS_INVALID', `Invalid parameters of ${which} in ${file}`, file, issues, {
    stepIds: [...stepIds],
    ...(stepIds.length === 1 ? { stepId: stepIds[0] } : {}),
    ...(command === undefined ? {} : { command }),
  });
}
