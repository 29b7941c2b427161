import type { PipelineDefinition, StepDefinition } from '../contracts/pipeline.js';
import { CoreError } from '../errors/core-error.js';
import { checkExpressions, type ExpressionContext } from './check-expressions.js';
import { didYouMean, listNames } from './did-you-mean.js';
import { matrixParamReference } from './expand-matrix.js';
import { formatReference } from './expressions.js';
import { buildNeedsGraph, dependsOn, findCycles, type NeedsGraph } from './pipeline-graph.js';
import { describeValue, type PipelineIssue } from './pipeline-issue.js';
import { checkParamDefaults } from './resolve-pipeline-params.js';

/** The commands and runners a pipeline may use. */
export interface PipelineRegistries {
  hasCommand(name: string): boolean;
  commandNames(): string[];
  hasRunner(name: string): boolean;
  runnerNames(): string[];
}

/** The runner of a step that names none. */
export const DEFAULT_RUNNER = 'local';

function checkRegistries(id: string, step: StepDefinition, registries: PipelineRegistries): PipelineIssue[] {
  const issues: PipelineIssue[] = [];
  if (!registries.hasCommand(step.uses)) {
    const names = registries.commandNames();
    issues.push({
      path: ['steps', id, 'uses'],
      message: `unknown command "${step.uses}"${didYouMean(step.uses, names)}; known commands: ${listNames(names)}`,
    });
  }
  const runner = step.runner ?? DEFAULT_RUNNER;
  // A runner chosen by a parameter is checked once the parameter is known (planPipeline).
  if (!runner.includes('${{') && !registries.hasRunner(runner)) {
    const names = registries.runnerNames();
    issues.push(
      step.runner === undefined
        ? {
            path: ['steps', id],
            target: 'key',
            message: `the default runner "${runner}" is not registered; known runners: ${listNames(names)}`,
          }
        : {
            path: ['steps', id, 'runner'],
            message: `unknown runner "${runner}"${didYouMean(runner, names)}; known runners: ${listNames(names)}`,
          },
    );
  }
  return issues;
}

function checkMatrix(
  step: StepDefinition,
  definition: PipelineDefinition,
  context: ExpressionContext,
): PipelineIssue[] {
  const issues: PipelineIssue[] = [];
  for (const [key, values] of Object.entries(step.matrix ?? {})) {
    const path = ['steps', context.stepId, 'matrix', key];
    // Matrix lists are known at plan time: only params may feed them.
    const problems = checkExpressions(values, path, ['params'], context);
    issues.push(...problems);
    if (Array.isArray(values)) {
      if (values.length === 0)
        issues.push({ path, message: 'expected a non-empty list of values, got an empty list' });
      continue;
    }
    if (problems.length > 0) continue;
    let reference;
    try {
      reference = matrixParamReference(values);
    } catch (error) {
      if (error instanceof CoreError) continue;
      throw error;
    }
    if (reference === undefined) {
      issues.push({
        path,
        message: `expected a list of values or exactly one "\${{ params.<name> }}" expression, got ${describeValue(values)}`,
      });
      continue;
    }
    const declaredType = definition.params?.[String(reference.path[0])]?.type;
    if (reference.path.length === 1 && declaredType !== undefined && declaredType !== 'array') {
      issues.push({
        path,
        message: `${formatReference(reference)} is declared as ${declaredType}; a matrix needs a list (type: array)`,
      });
    }
  }
  return issues;
}

/**
 * Every semantic issue of a structurally valid pipeline: defaults, needs, cycles, commands, runners, matrices,
 * expressions. Returns the needs graph too (unknown and self needs left out).
 */
export function checkPipeline(
  definition: PipelineDefinition,
  registries: PipelineRegistries,
): { graph: NeedsGraph; issues: PipelineIssue[] } {
  const stepIds = Object.keys(definition.steps);
  const params = definition.params ?? {};
  const { graph, issues } = buildNeedsGraph(definition.steps);
  issues.push(...checkParamDefaults(params));
  for (const cycle of findCycles(graph)) {
    issues.push({
      path: ['steps', cycle[0] ?? '', 'needs'],
      message: `dependency cycle ${cycle.join(' → ')} (each step needs the next)`,
    });
  }
  // One step at a time: `Object.entries` would make a 100,000-pair list first.
  for (const id of stepIds) {
    const step = definition.steps[id]!;
    const context: ExpressionContext = {
      stepId: id,
      params,
      matrixKeys: step.matrix && Object.keys(step.matrix),
      stepIds,
      isStep: (other) => graph.has(other),
      dependsOn: (other) => dependsOn(graph, id, other),
    };
    issues.push(...checkRegistries(id, step, registries));
    issues.push(...checkMatrix(step, definition, context));
    issues.push(
      ...checkExpressions(step.with ?? {}, ['steps', id, 'with'], ['params', 'matrix', 'steps'], context),
    );
    issues.push(...checkExpressions(step.name, ['steps', id, 'name'], ['params', 'matrix'], context));
    issues.push(...checkExpressions(step.runner, ['steps', id, 'runner'], ['params', 'matrix'], context));
  }
  return { graph, issues };
}
