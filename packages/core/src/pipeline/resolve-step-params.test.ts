import { describe, expect, it } from 'vitest';
import type { StepOutputs } from '../contracts/command.js';
import type { PipelineDefinition, Plan } from '../contracts/pipeline.js';
import { isCoreError } from '../errors/core-error.js';
import { planPipeline } from './plan-pipeline.js';
import { resolveStepParams } from './resolve-step-params.js';

const registries = {
  hasCommand: () => true,
  commandNames: () => ['exec'],
  hasRunner: () => true,
  runnerNames: () => ['local'],
};

const definition: PipelineDefinition = {
  name: 'p',
  params: {
    ds: { type: 'array', default: ['a', 'b'] },
    tag: { default: '${{ steps.prepare.outputs.dir }}' },
  },
  steps: {
    prepare: { uses: 'exec' },
    train: {
      uses: 'exec',
      matrix: { dataset: '${{ params.ds }}' },
      with: { data: '${{ steps.prepare.outputs.dir }}/${{ matrix.dataset }}' },
    },
    evaluate: {
      uses: 'exec',
      matrix: { dataset: '${{ params.ds }}', split: ['test'] },
      with: { model: '${{ steps.train.outputs.model }}', meta: '${{ steps.prepare.outputs.meta.version }}' },
    },
    summary: {
      uses: 'exec',
      with: { models: '${{ steps.train.outputs.model }}', tag: 'v ${{ params.tag }}' },
    },
  },
};

const outputs: Record<string, StepOutputs> = {
  prepare: { dir: '/data', meta: { version: 2 } },
  'train[dataset=a]': { model: 'm-a' },
  'train[dataset=b]': { model: 'm-b' },
};

function setup(): {
  plan: Plan;
  resolve: (id: string, outs?: Record<string, StepOutputs>) => Record<string, unknown>;
} {
  const plan = planPipeline(definition, registries);
  return {
    plan,
    resolve: (id, outs = outputs) => {
      const step = plan.steps.find((s) => s.id === id);
      if (!step) throw new Error(`no step ${id}`);
      return resolveStepParams(step, (stepId) => outs[stepId], plan);
    },
  };
}

describe('resolveStepParams', () => {
  it('reads outputs of a plain step, with a path below the output', () => {
    const { resolve } = setup();
    expect(resolve('train[dataset=b]')).toEqual({ data: '/data/b' });
    expect(resolve('evaluate[dataset=a,split=test]').meta).toBe(2);
  });

  it('picks the matrix instance with the same values when the keys are shared', () => {
    const { resolve } = setup();
    expect(resolve('evaluate[dataset=a,split=test]').model).toBe('m-a');
    expect(resolve('evaluate[dataset=b,split=test]').model).toBe('m-b');
  });

  it('gives the list of all instances, in matrix order, to a step without those keys', () => {
    const { resolve } = setup();
    expect(resolve('summary').models).toEqual(['m-a', 'm-b']);
  });

  it('never reads a param value as an expression', () => {
    const { resolve } = setup();
    expect(resolve('summary').tag).toBe('v ${{ steps.prepare.outputs.dir }}');
  });

  it('names the step, the output and the available outputs when one is missing', () => {
    const { resolve } = setup();
    const missing = { ...outputs, 'train[dataset=b]': { weights: 'w' } };
    let error: unknown;
    try {
      resolve('summary', missing);
    } catch (caught) {
      error = caught;
    }
    expect(isCoreError(error, 'CORE_EXPRESSION_INVALID')).toBe(true);
    expect((error as Error).message).toBe(
      'step "summary": ${{ steps.train.outputs.model }}: step "train[dataset=b]" has no output "model"; available outputs: weights',
    );
    expect(() => resolve('train[dataset=a]', {})).toThrow(
      /step "prepare" has no output "dir"; it has no outputs/,
    );
  });

  it('names a step the plan does not have (a plan not made by the planner)', () => {
    const { plan } = setup();
    const summary = plan.steps.find((s) => s.id === 'summary')!;
    const stray = { ...summary, with: { x: '${{ steps.nowhere.outputs.x }}' } };
    expect(() => resolveStepParams(stray, () => undefined, plan)).toThrow(
      'step "summary": ${{ steps.nowhere.outputs.x }}: the plan has no step "nowhere"',
    );
  });
});
