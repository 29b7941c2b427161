import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isCoreError } from '../errors/core-error.js';
import { loadPipelineFile, parsePipeline } from './load-pipeline-file.js';

const fixture = (name: string) => fileURLToPath(new URL(`./test-fixtures/${name}`, import.meta.url));

async function loadError(path: string): Promise<{ message: string; details: Record<string, unknown> }> {
  try {
    await loadPipelineFile(path);
  } catch (error) {
    expect(isCoreError(error, 'CORE_PIPELINE_INVALID')).toBe(true);
    return error as { message: string; details: Record<string, unknown> };
  }
  throw new Error(`expected ${path} to be invalid`);
}

function parseError(text: string, source = 'pipeline.yaml'): string {
  try {
    parsePipeline(text, source);
  } catch (error) {
    expect(isCoreError(error, 'CORE_PIPELINE_INVALID')).toBe(true);
    return (error as Error).message;
  }
  throw new Error('expected the text to be invalid');
}

describe('loadPipelineFile', () => {
  it('loads a YAML pipeline', async () => {
    const definition = await loadPipelineFile(fixture('train-evaluate.yaml'));
    expect(definition.name).toBe('train-evaluate');
    expect(Object.keys(definition.steps)).toEqual(['prepare', 'train', 'evaluate', 'summary']);
    expect(definition.steps.train?.matrix).toEqual({ dataset: '${{ params.datasets }}' });
  });

  it('loads a JSON pipeline by its extension', async () => {
    const definition = await loadPipelineFile(fixture('train-evaluate.json'));
    expect(definition.steps.train?.retry).toBe(2);
  });

  it('reports every structural issue with file, line, column, path, found and expected', async () => {
    const file = fixture('structural-errors.yaml');
    const error = await loadError(file);
    const lines = (error.details.issues as { text: string }[]).map((issue) => issue.text.replace(file, 'F'));
    expect(lines).toEqual([
      'F:4:11 params.epochs.type: expected one of string, number, boolean, array, object, got "integer"',
      'F:8:14 steps.prepare.timeout: expected a duration like "90s", "5m", "2h", "1h30m" or a number of milliseconds > 0, got "5 minutes"',
      'F:11:5 steps.train.need: unknown key "need" (did you mean "needs"?); allowed: name, uses, with, needs, runner, resources, runs-on, retry, timeout, cache, matrix',
      'F:12:5 steps.train.width: unknown key "width" (did you mean "with"?); allowed: name, uses, with, needs, runner, resources, runs-on, retry, timeout, cache, matrix',
      'F:15:17 steps.train.retry.attempts: expected a whole number ≥ 1, got "three"',
      'F:17:15 steps.train.resources.memory: expected a memory size like "512m", "4g", "4GiB" or a number of MiB ≥ 0, got "4x"',
      'F:18:13 steps.train.resources.gpus: expected a whole number ≥ 0, got -1',
      "F:19:3 steps['Bad.Id']: expected a step id of letters, digits, '_' and '-' starting with a letter or '_', got \"Bad.Id\"",
      'F:21:3 steps.evaluate.uses: expected a command name, but it is missing',
      'F:22:20 steps.evaluate.needs[1]: expected a string, got 3',
    ]);
    expect(error.message.split('\n')[0]).toBe(`Invalid pipeline ${file} (10 issues):`);
    expect(error.details.file).toBe(file);
    expect(error.details.issues).toContainEqual(
      expect.objectContaining({ path: 'steps.train.retry.attempts', line: 15, column: 17 }),
    );
  });

  it('reports YAML syntax errors the same way', async () => {
    const file = fixture('syntax-error.yaml');
    const error = await loadError(file);
    expect(error.message).toContain(`${file}:6:3: YAML syntax error: Flow sequence in block collection`);
  });

  it('reports JSON syntax errors with a line and column', async () => {
    const file = fixture('syntax-error.json');
    const error = await loadError(file);
    expect(error.message).toContain(`${file}:4:28: JSON syntax error: Expected double-quoted property name`);
  });

  it('reports a file that cannot be read', async () => {
    const error = await loadError(fixture('missing.yaml'));
    expect(error.message).toMatch(/Cannot read pipeline file .*missing\.yaml: ENOENT/);
  });
});

describe('parsePipeline', () => {
  it('reports an empty document and a non-object', () => {
    expect(parseError('')).toBe(
      'Invalid pipeline pipeline.yaml (1 issue):\n  pipeline.yaml: expected a pipeline (an object with name, params, steps), got null',
    );
    expect(parseError('[1]')).toContain('pipeline.yaml:1:1: expected a pipeline');
  });

  it('reports aliases that point nowhere or expand too much as pipeline errors, not crashes', () => {
    expect(parseError('name: x\nsteps: *missing\n')).toContain(
      'pipeline.yaml: YAML error: Unresolved alias (the anchor must be set before the alias): missing',
    );
    // A "billion laughs" file: each level doubles the one before.
    const levels = Array.from({ length: 12 }, (_, i) => `l${i + 1}: &l${i + 1} [*l${i}, *l${i}]`);
    expect(parseError(['l0: &l0 [x]', ...levels, 'name: x'].join('\n'))).toMatch(
      /YAML error: Excessive alias count/,
    );
  });

  it('reports missing and empty steps, unknown root keys', () => {
    expect(parseError('name: x\n')).toContain(
      'steps: expected an object of steps keyed by id, but it is missing',
    );
    expect(parseError('name: x\nsteps: {}\n')).toContain(
      'pipeline.yaml:2:1 steps: expected at least one step, got an object',
    );
    expect(parseError('name: x\nstep: {}\n')).toContain(
      'pipeline.yaml:2:1 step: unknown key "step" (did you mean "steps"?)',
    );
  });

  it('names the union branch that matched: retry, needs, matrix, with', () => {
    const message = parseError(
      [
        'name: x',
        'steps:',
        '  a:',
        '    uses: exec',
        '    retry: three',
        '    needs: { a: 1 }',
        '    matrix: { k: 3 }',
        '    with: [1]',
        '    cache: "no"',
        '  b:',
        '    uses: exec',
        '    retry: { attemps: 2, jitter: 2 }',
        '    resources: { cpus: 0, gpuOptional: 1 }',
        '    matrix: {}',
      ].join('\n'),
    );
    expect(message).toContain(
      'pipeline.yaml:5:12 steps.a.retry: expected a number of attempts (a whole number ≥ 1) or a retry policy object, got "three"',
    );
    expect(message).toContain(
      'pipeline.yaml:6:5 steps.a.needs: expected a step id or a list of step ids, got an object',
    );
    expect(message).toContain(
      'pipeline.yaml:7:18 steps.a.matrix.k: expected a list of values or a "${{ params.<name> }}" expression, got 3',
    );
    expect(message).toContain(
      'pipeline.yaml:8:5 steps.a.with: expected an object of command parameters, got a list',
    );
    expect(message).toContain('pipeline.yaml:9:12 steps.a.cache: expected true or false, got "no"');
    expect(message).toContain(
      'pipeline.yaml:12:14 steps.b.retry.attemps: unknown key "attemps" (did you mean "attempts"?)',
    );
    expect(message).toContain('steps.b.retry.jitter: expected a number from 0 to 1, got 2');
    expect(message).toContain('steps.b.resources.cpus: expected a number > 0, got 0');
    expect(message).toContain('steps.b.resources.gpuOptional: expected true or false, got 1');
    expect(message).toContain(
      'pipeline.yaml:14:5 steps.b.matrix: expected at least one matrix key, got an object',
    );
  });

  it('accepts every field in its documented forms', () => {
    const definition = parsePipeline(
      JSON.stringify({
        name: 'x',
        description: 'd',
        params: { p: { type: 'string', default: 'v', description: 'p', required: false } },
        steps: {
          a: {
            name: 'A',
            uses: 'exec',
            with: { k: 1 },
            needs: [],
            runner: 'local',
            resources: { cpus: 0.5, memory: 512, gpus: 0, gpuOptional: true },
            retry: { attempts: 2, initialDelayMs: 0, coefficient: 1, maxDelayMs: 0, jitter: 0 },
            timeout: 1000,
            cache: false,
            matrix: { k: [1] },
          },
        },
      }),
      'inline.json',
    );
    expect(definition.steps.a?.name).toBe('A');
  });
});
