import { describe, expect, it } from 'vitest';
import type { PipelineDefinition } from '../contracts/pipeline.js';
import { isCoreError } from '../errors/core-error.js';
import { parseParamAssignments } from './parse-param-assignments.js';

const definition: Pick<PipelineDefinition, 'name' | 'params'> = {
  name: 'p',
  params: {
    epochs: { type: 'number' },
    debug: { type: 'boolean' },
    datasets: { type: 'array' },
    cfg: { type: 'object' },
    label: { type: 'string' },
    raw: {},
  },
};

describe('parseParamAssignments', () => {
  it('converts values by the declared type', () => {
    expect(
      parseParamAssignments(
        [
          'epochs=10',
          'debug=false',
          'datasets=["a","b"]',
          'cfg={"lr":0.1}',
          'label=a=b',
          'raw=42',
          'epochs=12',
        ],
        definition,
      ),
    ).toEqual({ epochs: 12, debug: false, datasets: ['a', 'b'], cfg: { lr: 0.1 }, label: 'a=b', raw: '42' });
  });

  it('reports every bad argument in one error', () => {
    let error: unknown;
    try {
      parseParamAssignments(['epochs', '=1', 'epoch=3', 'debug=maybe', 'datasets=a,b'], definition);
    } catch (caught) {
      error = caught;
    }
    expect(isCoreError(error, 'CORE_PARAMS_INVALID')).toBe(true);
    expect((error as Error).message.split('\n')).toEqual([
      'Invalid params for pipeline p:',
      '  --param "epochs": expected NAME=VALUE',
      '  --param "=1": expected NAME=VALUE',
      '  --param epoch: unknown param "epoch" (did you mean "epochs"?); declared params: epochs, debug, datasets, cfg, label, raw',
      '  --param debug: param "debug" expects true or false, got "maybe"',
      '  --param datasets: param "datasets" expects a list (JSON array such as ["a","b"]), got "a,b"',
    ]);
  });

  it('reports params for a pipeline that declares none', () => {
    expect(() => parseParamAssignments(['x=1'], { name: 'q' })).toThrow(
      'unknown param "x"; declared params: none',
    );
  });
});
