import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { PipelineDefinition, StepDefinition } from '../contracts/pipeline.js';
import { isCoreError, type CoreErrorCode } from '../errors/core-error.js';
import { loadPipelineFile } from './load-pipeline-file.js';
import { DEFAULT_RETRY_POLICY, planPipeline, type PlanPipelineOptions } from './plan-pipeline.js';
import { resolveStepParams } from './resolve-step-params.js';

const fixture = (name: string) => fileURLToPath(new URL(`./test-fixtures/${name}`, import.meta.url));

const registries: PlanPipelineOptions = {
  hasCommand: (name) => ['exec', 'grid.download'].includes(name),
  commandNames: () => ['exec', 'grid.download'],
  hasRunner: (name) => ['local', 'docker'].includes(name),
  runnerNames: () => ['local', 'docker'],
};

function pipeline(
  steps: Record<string, Partial<StepDefinition>>,
  params?: PipelineDefinition['params'],
): PipelineDefinition {
  const full = Object.fromEntries(Object.entries(steps).map(([id, step]) => [id, { uses: 'exec', ...step }]));
  return { name: 'p', steps: full, ...(params && { params }) };
}

function plan(definition: PipelineDefinition, options: Partial<PlanPipelineOptions> = {}) {
  return planPipeline(definition, { ...registries, ...options });
}

function failure(code: CoreErrorCode, run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(isCoreError(error, code), String(error)).toBe(true);
    return (error as Error).message;
  }
  throw new Error(`expected ${code}`);
}

const invalid = (definition: PipelineDefinition, options: Partial<PlanPipelineOptions> = {}) =>
  failure('CORE_PIPELINE_INVALID', () => plan(definition, options));
const badParams = (definition: PipelineDefinition, params: Record<string, unknown>) =>
  failure('CORE_PARAMS_INVALID', () => plan(definition, { params }));

describe('planPipeline: the realistic example', () => {
  it('plans prepare → train (matrix) → evaluate (matrix) → summary', async () => {
    const file = fixture('train-evaluate.yaml');
    const result = plan(await loadPipelineFile(file));
    expect(result.pipeline).toBe('train-evaluate');
    expect(result.source).toBe(file);
    expect(result.params).toEqual({ datasets: ['mnist', 'cifar10'], epochs: 10, learningRate: 0.001 });
    expect(result.steps.map((s) => [s.id, s.needs])).toEqual([
      ['prepare', []],
      ['train[dataset=mnist]', ['prepare']],
      ['train[dataset=cifar10]', ['prepare']],
      // Each evaluate instance waits only for the train instance with the same dataset.
      ['evaluate[dataset=mnist]', ['train[dataset=mnist]']],
      ['evaluate[dataset=cifar10]', ['train[dataset=cifar10]']],
      ['summary', ['evaluate[dataset=mnist]', 'evaluate[dataset=cifar10]']],
    ]);
    const train = result.steps[1];
    expect(train).toEqual({
      id: 'train[dataset=mnist]',
      baseId: 'train',
      name: 'Train on mnist',
      uses: 'exec',
      with: {
        command: [
          'python',
          'train.py',
          '--data=${{ steps.prepare.outputs.dir }}/mnist',
          '--epochs=10',
          '--lr=0.001',
        ],
      },
      needs: ['prepare'],
      runner: 'local',
      resources: { cpus: 4, memoryMb: 8192, gpus: 1, gpuOptional: true },
      retry: { ...DEFAULT_RETRY_POLICY, attempts: 3, initialDelayMs: 5000 },
      timeoutMs: 7_200_000,
      cache: true,
      matrix: { dataset: 'mnist' },
    });
    expect(result.steps[5]?.cache).toBe(false);
    expect(result.steps[5]?.with.report).toBe('Trained 10 epochs on ["mnist","cifar10"]');
  });

  it('takes params from the run, coerced to the declared types', async () => {
    const result = plan(await loadPipelineFile(fixture('train-evaluate.yaml')), {
      params: { datasets: '["a"]', epochs: '3' },
    });
    expect(result.steps.map((s) => s.id)).toEqual([
      'prepare',
      'train[dataset=a]',
      'evaluate[dataset=a]',
      'summary',
    ]);
    expect(result.params.epochs).toBe(3);
  });
});

describe('planPipeline: semantic issues of a loaded file carry lines', () => {
  it('reports all of them at once', async () => {
    const file = fixture('semantic-errors.yaml');
    const text = invalid(await loadPipelineFile(file)).replaceAll(file, 'F');
    expect(text.split('\n')).toEqual([
      'Invalid pipeline F (8 issues):',
      '  F:3:36 params.epochs.default: expected a number (the declared type), got "ten"',
      '  F:7:12 steps.a.needs: dependency cycle a → c → b → a (each step needs the next)',
      '  F:9:11 steps.b.uses: unknown command "exce" (did you mean "exec"?); known commands: exec, grid.download',
      '  F:13:10 steps.c.with.x: ${{ params.epoch }}: unknown param "epoch" (did you mean "epochs"?); declared params: epochs',
      '  F:14:10 steps.c.with.y: ${{ matrix.dataset }}: step "c" has no matrix',
      '  F:15:10 steps.c.with.z: ${{ steps.d.outputs.result }}: step "d" is not a dependency of "c"; add it to needs (directly or through another step)',
      '  F:18:13 steps.d.needs[0]: unknown step "trian"; steps: a, b, c, d',
      '  F:19:13 steps.d.runner: unknown runner "gpu-farm"; known runners: local, docker',
    ]);
  });
});

describe('planPipeline: needs and order', () => {
  it('is sequential by default, [] means no needs, a string is one need', () => {
    const result = plan(
      pipeline({ a: {}, b: {}, c: { needs: [] }, d: { needs: 'a' }, e: { needs: ['d', 'b', 'd'] } }),
    );
    expect(result.steps.map((s) => [s.id, s.needs])).toEqual([
      ['a', []],
      ['b', ['a']],
      ['c', []],
      ['d', ['a']],
      ['e', ['d', 'b']],
    ]);
  });

  it('orders topologically, file order where free', () => {
    const result = plan(pipeline({ late: { needs: ['early'] }, other: { needs: [] }, early: { needs: [] } }));
    expect(result.steps.map((s) => s.id)).toEqual(['other', 'early', 'late']);
  });

  it('reports unknown needs with a suggestion, self needs and cycles', () => {
    const message = invalid(
      pipeline({
        train: { needs: 'trian' },
        b: { needs: ['b'] },
        x: { needs: ['y'] },
        y: { needs: ['z'] },
        z: { needs: 'x' },
      }),
    );
    expect(message).toContain(
      '<pipeline p> steps.train.needs: unknown step "trian" (did you mean "train"?); steps: train, b, x, y, z',
    );
    expect(message).toContain('<pipeline p> steps.b.needs[0]: step "b" cannot need itself');
    expect(message).toContain(
      '<pipeline p> steps.x.needs: dependency cycle x → y → z → x (each step needs the next)',
    );
    expect(message).not.toContain('cycle b');
  });

  it('names a file given as source when the definition was built in code', () => {
    expect(invalid(pipeline({ a: { needs: 'zz' } }), { source: 'built.ts' })).toContain(
      'built.ts steps.a.needs: unknown step "zz"',
    );
  });
});

describe('planPipeline: commands, runners, policies', () => {
  it('reports unknown commands and runners with the known ones', () => {
    const message = invalid(pipeline({ a: { uses: 'grid.dowload', runner: 'dokcer' } }));
    expect(message).toContain(
      'steps.a.uses: unknown command "grid.dowload" (did you mean "grid.download"?); known commands: exec, grid.download',
    );
    expect(message).toContain(
      'steps.a.runner: unknown runner "dokcer" (did you mean "docker"?); known runners: local, docker',
    );
  });

  it('reports a missing default runner', () => {
    const message = invalid(pipeline({ a: {} }), { hasRunner: () => false, runnerNames: () => [] });
    expect(message).toContain('steps.a: the default runner "local" is not registered; known runners: none');
  });

  it('normalises resources, retry, timeout, cache and runner', () => {
    const [a, b, c] = plan(
      pipeline({
        a: {},
        b: {
          retry: 4,
          timeout: '1h30m',
          resources: { memory: '512m', cpus: 0.5 },
          runner: 'docker',
          cache: false,
        },
        c: {
          retry: { maxDelayMs: 10 },
          timeout: 250,
          resources: { memory: 100, gpus: 2, gpuOptional: false },
        },
      }),
    ).steps;
    expect(a).toMatchObject({
      runner: 'local',
      cache: true,
      retry: DEFAULT_RETRY_POLICY,
      resources: { cpus: 1, memoryMb: 0, gpus: 0 },
    });
    expect(a).not.toHaveProperty('timeoutMs');
    expect(a).not.toHaveProperty('matrix');
    expect(b).toMatchObject({
      runner: 'docker',
      cache: false,
      timeoutMs: 5_400_000,
      retry: { ...DEFAULT_RETRY_POLICY, attempts: 4 },
    });
    expect(b?.resources).toEqual({ cpus: 0.5, memoryMb: 512, gpus: 0 });
    expect(c).toMatchObject({ timeoutMs: 250, retry: { ...DEFAULT_RETRY_POLICY, maxDelayMs: 10 } });
    expect(c?.resources).toEqual({ cpus: 1, memoryMb: 100, gpus: 2, gpuOptional: false });
  });

  it('validates the structure of a definition built in code', () => {
    const message = invalid({ name: 'p', steps: { a: { uses: 'exec', retry: 0, timeout: 'soon' } } });
    expect(message).toContain('<pipeline p> steps.a.retry: expected a whole number ≥ 1, got 0');
    expect(message).toContain('<pipeline p> steps.a.timeout: expected a duration');
  });
});

describe('planPipeline: params', () => {
  const declared: PipelineDefinition['params'] = {
    n: { type: 'number', default: 1 },
    flag: { type: 'boolean' },
    name: { type: 'string', required: true },
    list: { type: 'array', default: [] },
    cfg: { type: 'object' },
    any: {},
  };
  const definition = pipeline(
    { a: { with: { v: '${{ params.n }}', s: 'n=${{ params.n }} f=${{ params.flag }}' } } },
    declared,
  );

  it('applies defaults, coerces, leaves out optional params without value', () => {
    const result = plan(definition, { params: { name: 42, flag: 'true', cfg: '{"a":1}', any: [1] } });
    expect(result.params).toEqual({ n: 1, flag: true, name: '42', list: [], cfg: { a: 1 }, any: [1] });
    expect(result.steps[0]?.with).toEqual({ v: 1, s: 'n=1 f=true' });
    expect(plan(definition, { params: { name: 'x' } }).steps[0]?.with.s).toBe('n=1 f=');
  });

  it('reports every bad param at once', () => {
    const message = badParams(definition, { n: 'ten', flag: 'maybe', cfg: '[1]', list: 'a,b', nn: 1 });
    expect(message.split('\n')).toEqual([
      'Invalid params for pipeline p:',
      '  unknown param "nn" (did you mean "n"?); declared params: n, flag, name, list, cfg, any',
      '  param "n" expects a number, got "ten"',
      '  param "flag" expects true or false, got "maybe"',
      '  param "name" is required (string)',
      '  param "list" expects a list (JSON array such as ["a","b"]), got "a,b"',
      '  param "cfg" expects an object (JSON object such as {"k":1}), got "[1]"',
    ]);
  });

  it('checks param defaults against their type as a pipeline issue', () => {
    expect(invalid(pipeline({ a: {} }, { n: { type: 'boolean', default: 'yes' } }))).toContain(
      'params.n.default: expected true or false (the declared type), got "yes"',
    );
  });
});

describe('planPipeline: matrix', () => {
  it('expands several keys in key order, first key outermost', () => {
    const result = plan(
      pipeline({
        train: { matrix: { dataset: ['a', 'b'], seed: [1, 2] }, with: { s: '${{ matrix.seed }}' } },
      }),
    );
    expect(result.steps.map((s) => s.id)).toEqual([
      'train[dataset=a,seed=1]',
      'train[dataset=a,seed=2]',
      'train[dataset=b,seed=1]',
      'train[dataset=b,seed=2]',
    ]);
    expect(result.steps[1]).toMatchObject({ matrix: { dataset: 'a', seed: 2 }, with: { s: 2 } });
  });

  it('takes a list from a param, and params inside literal lists', () => {
    const definition = pipeline(
      { t: { matrix: { d: '${{ params.ds }}', lr: ['${{ params.lr }}', 0.5] } } },
      { ds: { type: 'array', default: ['x'] }, lr: { type: 'number', default: 0.1 } },
    );
    expect(plan(definition).steps.map((s) => s.id)).toEqual(['t[d=x,lr=0.1]', 't[d=x,lr=0.5]']);
  });

  it('reports an empty list, a non-list param and a misused matrix key', () => {
    const message = invalid(
      pipeline(
        {
          a: { matrix: { k: [] } },
          b: { matrix: { k: '${{ params.s }}' } },
          c: { matrix: { k: 'plain' } },
          d: { matrix: { k: [1] }, with: { x: '${{ matrix.kk }}' } },
          e: { matrix: { k: ['${{ steps.a.outputs.x }}'] } },
          f: { matrix: { k: '${{ params.nope }}' } },
        },
        { s: { type: 'string', default: 'v' } },
      ),
    );
    expect(message).toContain('steps.a.matrix.k: expected a non-empty list of values, got an empty list');
    expect(message).toContain(
      'steps.b.matrix.k: params.s is declared as string; a matrix needs a list (type: array)',
    );
    expect(message).toContain(
      'steps.c.matrix.k: expected a list of values or exactly one "${{ params.<name> }}" expression, got "plain"',
    );
    expect(message).toContain(
      'steps.d.with.x: ${{ matrix.kk }}: unknown matrix key "kk" (did you mean "k"?); matrix keys of "d": k',
    );
    expect(message).toContain(
      'steps.e.matrix.k[0]: ${{ steps.a.outputs.x }}: steps.* cannot be used here; only params.*',
    );
    expect(message).toContain(
      'steps.f.matrix.k: ${{ params.nope }}: unknown param "nope"; declared params: s',
    );
  });

  it('reports an empty or non-list param value as a params error', () => {
    const definition = pipeline({ t: { matrix: { d: '${{ params.ds }}' } } }, { ds: {} });
    expect(badParams(definition, { ds: [] })).toContain(
      'matrix "d" of step "t" takes its values from params.ds, which is an empty list; expected a non-empty list',
    );
    expect(badParams(definition, { ds: 'x' })).toContain('which is "x"; expected a non-empty list');
  });

  it('reports matrix values that give the same instance id', () => {
    expect(invalid(pipeline({ t: { matrix: { k: [1, '1'] } } }))).toContain(
      'steps.t.matrix: two matrix combinations give the same instance id t[k=1]',
    );
  });

  it('resolves params and matrix in names', () => {
    const result = plan(
      pipeline(
        { t: { name: '${{ params.p }} on ${{ matrix.k }}', matrix: { k: ['a'] } } },
        { p: { default: 'Train' } },
      ),
    );
    expect(result.steps[0]?.name).toBe('Train on a');
  });
});

describe('planPipeline: expressions are checked before anything runs', () => {
  it('reports unknown roots, bad shapes, syntax errors and outputs of non-dependencies', () => {
    const message = invalid(
      pipeline({
        a: { with: { x: '${{ parms.x }}', y: '${{ params }}', z: '${{ steps.a.outputs.o }}' } },
        b: {
          with: {
            x: '${{ steps.a }}',
            y: '${{ steps.nope.outputs.o }}',
            z: '${{ steps.c.outputs.o }}',
            w: 'a ${{ params.x + 1 }}',
          },
        },
        c: { name: '${{ steps.a.outputs.o }}', with: { deep: [{ k: '${{ matrix.k }}' }] } },
      }),
    );
    expect(message).toContain(
      'steps.a.with.x: ${{ parms.x }}: unknown name "parms" (did you mean "params"?); expected params.<name>, steps.<id>.outputs.<name> or matrix.<key>',
    );
    expect(message).toContain('steps.a.with.y: ${{ params }}: expected params.<name>');
    expect(message).toContain(
      'steps.a.with.z: ${{ steps.a.outputs.o }}: step "a" cannot read its own outputs',
    );
    expect(message).toContain('steps.b.with.x: ${{ steps.a }}: expected steps.<id>.outputs.<name>');
    expect(message).toContain('steps.b.with.y: ${{ steps.nope.outputs.o }}: unknown step "nope"');
    expect(message).toContain(
      'steps.b.with.z: ${{ steps.c.outputs.o }}: step "c" is not a dependency of "b"',
    );
    expect(message).toContain(
      "steps.b.with.w: invalid expression ${{ params.x + 1 }} at column 16: expected '}}' after params.x, found '+'",
    );
    expect(message).toContain(
      'steps.c.name: ${{ steps.a.outputs.o }}: steps.* cannot be used here; only params.* and matrix.*',
    );
    expect(message).toContain('steps.c.with.deep[0].k: ${{ matrix.k }}: step "c" has no matrix');
  });

  it('accepts outputs of transitive dependencies and keeps them for run time', () => {
    const result = plan(pipeline({ a: {}, b: {}, c: { with: { x: '${{ steps.a.outputs.o }}' } } }));
    expect(result.steps[2]?.with).toEqual({ x: '${{ steps.a.outputs.o }}' });
  });
});

describe('planPipeline: matrix needs', () => {
  const options = {
    hasCommand: () => true,
    commandNames: () => ['exec'],
    hasRunner: () => true,
    runnerNames: () => ['local'],
  };

  it('refuses an instance whose paired instance does not exist, before anything runs', () => {
    const error = (() => {
      try {
        planPipeline(
          {
            name: 'mismatch',
            steps: {
              train: { uses: 'exec', with: { command: 'x' }, matrix: { dataset: ['a', 'b'] }, needs: [] },
              evaluate: {
                uses: 'exec',
                with: { command: 'y' },
                matrix: { dataset: ['a', 'b', 'c'] },
                needs: ['train'],
              },
            },
          },
          options,
        );
      } catch (caught) {
        return caught as Error;
      }
      return undefined;
    })();
    expect(error?.message).toContain(
      'evaluate[dataset=c] needs "train", which has no instance with the same matrix values',
    );
  });

  it('waits for every instance when the keys differ', () => {
    const plan = planPipeline(
      {
        name: 'cross',
        steps: {
          prepare: { uses: 'exec', with: { command: 'x' }, matrix: { seed: [1, 2] }, needs: [] },
          train: { uses: 'exec', with: { command: 'y' }, matrix: { dataset: ['a'] }, needs: ['prepare'] },
        },
      },
      options,
    );
    expect(plan.steps.find((s) => s.baseId === 'train')?.needs).toEqual([
      'prepare[seed=1]',
      'prepare[seed=2]',
    ]);
  });
});

describe('planPipeline: runner from a parameter', () => {
  const options = {
    hasCommand: () => true,
    commandNames: () => ['exec'],
    hasRunner: (name: string) => name === 'local' || name === 'docker',
    runnerNames: () => ['docker', 'local'],
  };
  const definition = {
    name: 'runner-param',
    params: { runner: { type: 'string' as const, default: 'local' } },
    steps: { pack: { uses: 'exec', with: { command: 'tar' }, runner: '${{ params.runner }}' } },
  };

  it('resolves the runner when the parameter is known', () => {
    expect(planPipeline(definition, options).steps[0]?.runner).toBe('local');
    expect(planPipeline(definition, { ...options, params: { runner: 'docker' } }).steps[0]?.runner).toBe(
      'docker',
    );
  });

  it('refuses a parameter that names no registered runner', () => {
    expect(() => planPipeline(definition, { ...options, params: { runner: 'dokcer' } })).toThrow(
      /pack runs on "dokcer", which is not a registered runner.*did you mean "docker"/,
    );
  });
});

describe('planPipeline: large plans', () => {
  const items = (count: number) => Array.from({ length: count }, (_, i) => `item-${i}`);

  it('gives the instances of a matrix step one shared copy of what they have in common', () => {
    const result = plan(
      pipeline(
        {
          prepare: {},
          process: {
            needs: 'prepare',
            matrix: { item: '${{ params.items }}' },
            with: {
              command: ['run', '${{ matrix.item }}'],
              options: { threshold: 0.5, tags: ['a', '${{ params.tag }}'] },
              input: '${{ steps.prepare.outputs.dir }}',
            },
            retry: 3,
            resources: { cpus: 2 },
          },
        },
        { items: { type: 'array', default: items(3) }, tag: { default: 't' } },
      ),
    );
    const [first, second, third] = result.steps.slice(1);
    expect(first?.with).toEqual({
      command: ['run', 'item-0'],
      options: { threshold: 0.5, tags: ['a', 't'] },
      input: '${{ steps.prepare.outputs.dir }}',
    });
    expect(second?.with.command).toEqual(['run', 'item-1']);
    // What does not depend on the matrix values is the same object in every instance, not a copy.
    expect(second?.with.options).toBe(first?.with.options);
    expect(third?.with.options).toBe(first?.with.options);
    expect(second?.retry).toBe(first?.retry);
    expect(second?.resources).toBe(first?.resources);
    expect(second?.needs).toBe(first?.needs);
  });

  it('plans a 20,000-step chain whose steps read the previous outputs in linear time', () => {
    // Collecting each step's ancestors, or scanning the plan for every reference, took minutes here.
    const steps: Record<string, Partial<StepDefinition>> = { s0: {} };
    for (let i = 1; i < 20_000; i++)
      steps[`s${i}`] = { with: { input: `\${{ steps.s${i - 1}.outputs.file }}` } };
    const result = plan(pipeline(steps));
    expect(result.steps).toHaveLength(20_000);
    expect(result.steps[19_999]?.needs).toEqual(['s19998']);
    const last = result.steps[19_999]!;
    const outputsOf = (id: string) => ({ file: `${id}.out` });
    expect(resolveStepParams(last, outputsOf, result)).toEqual({ input: 's19998.out' });
  });

  it('pairs two 20,000-instance matrix steps by value without comparing every pair', () => {
    const result = plan(
      pipeline(
        {
          a: { needs: [], matrix: { item: '${{ params.items }}' } },
          b: {
            needs: 'a',
            matrix: { item: '${{ params.items }}' },
            with: { input: '${{ steps.a.outputs.file }}' },
          },
        },
        { items: { type: 'array', default: items(20_000) } },
      ),
    );
    expect(result.steps).toHaveLength(40_000);
    const last = result.steps[39_999]!;
    expect(last.needs).toEqual(['a[item=item-19999]']);
    const outputsOf = (id: string) => ({ file: `${id}.out` });
    expect(resolveStepParams(last, outputsOf, result)).toEqual({ input: 'a[item=item-19999].out' });
  });
});
