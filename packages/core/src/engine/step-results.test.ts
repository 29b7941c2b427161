import { describe, expect, it } from 'vitest';
import type { PipelineDefinition } from '../contracts/pipeline.js';
import { planPipeline } from '../pipeline/plan-pipeline.js';
import { StepGraph, UNKNOWN_STEP } from './step-graph.js';
import { StepResults } from './step-results.js';

const registries = {
  hasCommand: () => true,
  commandNames: () => ['exec'],
  hasRunner: () => true,
  runnerNames: () => ['local'],
};

function setup(definition: PipelineDefinition, done: readonly string[] = []) {
  const plan = planPipeline(definition, registries);
  const graph = new StepGraph(plan.steps);
  const position = (id: string): number => graph.positionOf(id)!;
  const doneAt = new Set(done.map(position));
  const results = new StepResults(graph, plan, (at) => !doneAt.has(at));
  return { graph, results, position };
}

const result = (value: string) => ({ outputs: { value }, artifacts: [] });

describe('StepGraph', () => {
  it('lists needs and dependants by position, in plan order, an unknown need as such', () => {
    const graph = new StepGraph(
      [
        { id: 'a', needs: [] },
        { id: 'b', needs: ['a', 'missing'] },
        { id: 'c', needs: ['a', 'b'] },
      ].map((step) => ({
        ...step,
        baseId: step.id,
        name: step.id,
        uses: 'exec',
        with: {},
        runner: 'local',
        resources: {},
        retry: { attempts: 1, initialDelayMs: 0, coefficient: 1, maxDelayMs: 0, jitter: 0 },
        cache: false,
      })),
    );
    const needsOf = (at: number) => [...graph.needs.subarray(graph.needsFrom[at], graph.needsFrom[at + 1])];
    const dependantsOf = (at: number) => [
      ...graph.dependants.subarray(graph.dependantsFrom[at], graph.dependantsFrom[at + 1]),
    ];
    expect(needsOf(1)).toEqual([0, UNKNOWN_STEP]);
    expect(needsOf(2)).toEqual([0, 1]);
    expect(dependantsOf(0)).toEqual([1, 2]);
    expect(dependantsOf(1)).toEqual([2]);
    expect(dependantsOf(2)).toEqual([]);
    expect(graph.positionOf('c')).toBe(2);
    expect(graph.positionOf('missing')).toBeUndefined();
  });
});

describe('StepResults', () => {
  it('drops a result once every step that reads it has read it, not before', () => {
    const { results, position } = setup({
      name: 'p',
      steps: {
        a: { uses: 'exec' },
        b: { uses: 'exec', with: { x: '${{ steps.a.outputs.value }}' } },
        c: { uses: 'exec', needs: ['b'], with: { x: '${{ steps.a.outputs.value }}' } },
      },
    });
    results.keep(position('a'), result('A'));
    results.keep(position('b'), result('B'));
    results.doneReading(position('b'));
    // `c` reads `a` through an expression, further up than its needs.
    expect(results.outputsOf('a')).toEqual({ value: 'A' });
    results.doneReading(position('c'));
    results.doneReading(position('c'));
    expect(results.outputsOf('a')).toBeUndefined();
    expect(results.outputsOf('b')).toBeUndefined();
  });

  it('keeps nothing of a step no later step reads, nor what only finished steps read', () => {
    const { results, position } = setup(
      {
        name: 'p',
        steps: {
          a: { uses: 'exec' },
          b: { uses: 'exec', needs: ['a'] },
          c: { uses: 'exec', needs: [] },
        },
      },
      ['b'],
    );
    results.keep(position('a'), result('A'));
    results.keep(position('c'), result('C'));
    expect(results.outputsOf('a')).toBeUndefined();
    expect(results.outputsOf('c')).toBeUndefined();
  });

  it('keeps the instances a step reads as a list until that step has read them', () => {
    const { results, position } = setup({
      name: 'p',
      steps: {
        train: { uses: 'exec', matrix: { ds: ['x', 'y'] } },
        report: { uses: 'exec', with: { models: '${{ steps.train.outputs.value }}' } },
      },
    });
    results.keep(position('train[ds=x]'), result('X'));
    results.keep(position('train[ds=y]'), result('Y'));
    expect(results.artifactsOf('train[ds=y]')).toEqual([]);
    results.doneReading(position('report'));
    expect(results.outputsOf('train[ds=x]')).toBeUndefined();
    expect(results.outputsOf('train[ds=y]')).toBeUndefined();
  });
});
