import { describe, expect, it } from 'vitest';
import type { PipelineDefinition } from '../contracts/pipeline.js';
import { isCoreError } from '../errors/core-error.js';
import { parsePipeline } from './load-pipeline-file.js';
import { planPipeline, type PlanPipelineOptions } from './plan-pipeline.js';

const registries: PlanPipelineOptions = {
  hasCommand: (name) => name === 'exec',
  commandNames: () => ['exec'],
  hasRunner: (name) => name === 'local',
  runnerNames: () => ['local'],
};

describe('runs-on: capability labels of a step', () => {
  it('plans a label or a list of labels into resources.labels, next to the other resources', () => {
    const definition: PipelineDefinition = {
      name: 'p',
      steps: {
        one: { uses: 'exec', 'runs-on': 'gpu=a100' },
        many: { uses: 'exec', 'runs-on': ['docker', 'gpu=a100'], resources: { gpus: 1, memory: '2g' } },
        none: { uses: 'exec' },
        matrix: { uses: 'exec', 'runs-on': ['linux'], matrix: { x: [1, 2] } },
      },
    };
    const plan = planPipeline(definition, registries);
    const resources = Object.fromEntries(plan.steps.map((step) => [step.id, step.resources]));
    expect(resources.one).toEqual({ cpus: 1, memoryMb: 0, gpus: 0, labels: ['gpu=a100'] });
    expect(resources.many).toEqual({ cpus: 1, memoryMb: 2048, gpus: 1, labels: ['docker', 'gpu=a100'] });
    expect(resources.none).not.toHaveProperty('labels');
    expect(resources['matrix[x=1]']?.labels).toEqual(['linux']);
    expect(resources['matrix[x=2]']?.labels).toEqual(['linux']);
  });

  it('refuses a label that is not a name or name=value, with its place in the file', () => {
    const text = [
      'name: p',
      'steps:',
      '  a:',
      '    uses: exec',
      '    runs-on: [gpu=a100, "two words"]',
      '',
    ].join('\n');
    let caught: unknown;
    try {
      planPipeline(parsePipeline(text, 'p.yaml'), registries);
    } catch (error) {
      caught = error;
    }
    expect(isCoreError(caught, 'CORE_PIPELINE_INVALID'), String(caught)).toBe(true);
    expect((caught as Error).message).toMatch(
      /p\.yaml:5:\d+ steps\.a\.runs-on\[1\]: expected a capability label.*got "two words"/,
    );
  });
});
