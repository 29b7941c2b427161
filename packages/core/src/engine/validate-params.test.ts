import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EMPTY } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Command } from '../contracts/command.js';
import { execParamsSchema } from '../commands/exec.js';
import { isCoreError } from '../errors/core-error.js';
import { parsePipeline } from '../pipeline/load-pipeline-file.js';
import { planPipeline } from '../pipeline/plan-pipeline.js';
import { pipelineSourceOf } from '../pipeline/pipeline-source.js';
import { createRuntime } from '../runtime/create-runtime.js';
import { MemoryStore } from '../store/memory-store.js';
import { checkPlanParams, validateParams } from './validate-params.js';

const exec: Command = { name: 'exec', version: '1', params: execParamsSchema, execute: () => EMPTY };

/** Plans a pipeline text and checks its parameters before a run, as the runtime does; returns the error. */
async function paramsError(
  text: string,
  command: Command = exec,
): Promise<Error & { details: Record<string, unknown> }> {
  const definition = parsePipeline(text, 'pipeline.yaml');
  const plan = planPipeline(definition, {
    source: 'pipeline.yaml',
    hasCommand: () => true,
    commandNames: () => [command.name],
    hasRunner: () => true,
    runnerNames: () => ['local'],
  });
  try {
    await checkPlanParams(plan, () => command, { file: 'pipeline.yaml', ...pipelineSourceOf(definition) });
  } catch (error) {
    expect(isCoreError(error, 'CORE_PARAMS_INVALID')).toBe(true);
    return error as Error & { details: Record<string, unknown> };
  }
  throw new Error('expected invalid parameters');
}

describe('parameter errors name the file, line, column, path, what was found and what was expected', () => {
  it('reports a wrong type, a misspelt key, a missing key and a bad list element, each where it is', async () => {
    const error = await paramsError(`name: p
steps:
  number:
    uses: exec
    with:
      command: 42
  typo:
    uses: exec
    with:
      comand: echo hi
  empty:
    uses: exec
    with: {}
  argv:
    uses: exec
    with:
      command: [echo, 3]
  env:
    uses: exec
    with:
      command: env
      env: { A: 1 }
`);
    expect(error.message.split('\n')).toEqual([
      'Invalid parameters of 5 steps in pipeline.yaml (6 issues):',
      '  pipeline.yaml:6:16 steps.number.with.command: expected a string or a list, got 42',
      '  pipeline.yaml:9:5 steps.typo.with.command: expected a string or a list, but it is missing',
      '  pipeline.yaml:10:7 steps.typo.with.comand: unknown parameter "comand" (did you mean "command"?); allowed: command, env, workdir, image, inputs, outputs',
      '  pipeline.yaml:13:5 steps.empty.with.command: expected a string or a list, but it is missing',
      '  pipeline.yaml:17:23 steps.argv.with.command[1]: expected a string, got 3',
      '  pipeline.yaml:22:17 steps.env.with.env.A: expected a string, got 1',
    ]);
    expect(error.details).toMatchObject({ file: 'pipeline.yaml', total: 6 });
    expect(error.details.issues).toContainEqual(
      expect.objectContaining({ path: 'steps.typo.with.comand', line: 10, column: 7 }),
    );
  });

  it('quotes what was found escaped and bounded', async () => {
    const error = await paramsError(`name: p
steps:
  bad:
    uses: exec
    with:
      command: ""
      workdir: 7
      outputs: "${'\\u001b[31m'.repeat(40)}"
`);
    const lines = error.message.split('\n');
    expect(lines[1]).toBe(
      '  pipeline.yaml:6:16 steps.bad.with.command: Too small: expected string to have >=1 characters, got ""',
    );
    expect(lines[2]).toBe('  pipeline.yaml:7:16 steps.bad.with.workdir: expected a string, got 7');
    // The escape sequences are printed as text, never sent to the terminal, and the excerpt is cut.
    expect(lines[3]).toMatch(
      /^ {2}pipeline\.yaml:8:16 steps\.bad\.with\.outputs: expected a list or an object, got "(\\u001b\[31m)+[^"]*…"$/,
    );
    expect(lines[3]).not.toContain('\u001b');
    expect(lines[3]!.length).toBeLessThan(160);
  });

  it('reports a matrix step once, not once per instance', async () => {
    const error = await paramsError(`name: p
steps:
  train:
    uses: exec
    matrix: { n: [1, 2, 3] }
    with: { command: 42 }
`);
    expect(error.message.split('\n')).toEqual([
      'Invalid parameters of 3 steps in pipeline.yaml (1 issue):',
      '  pipeline.yaml:6:22 steps.train.with.command: expected a string or a list, got 42',
    ]);
  });

  it('works for any command through its Standard Schema issues', async () => {
    const custom: Command = {
      name: 'custom',
      version: '1',
      params: z.object({ count: z.number().int().min(1), mode: z.enum(['a', 'b']) }).strict(),
      execute: () => EMPTY,
    };
    const error = await paramsError(
      `name: p
steps:
  s:
    uses: custom
    with: { count: 0, mode: c, extra: true }
`,
      custom,
    );
    expect(error.message).toContain(
      'pipeline.yaml:5:20 steps.s.with.count: Too small: expected number to be >=1, got 0',
    );
    expect(error.message).toMatch(/pipeline\.yaml:5:29 steps\.s\.with\.mode: .*"a".*"b".*, got "c"/);
    expect(error.message).toContain(
      'pipeline.yaml:5:32 steps.s.with.extra: unknown parameter "extra"; allowed: count, mode',
    );
  });

  it('names the file and path when the engine checks parameters resolved at run time', async () => {
    const error = await validateParams(exec, { command: 42 }, 'train[n=1]', {
      file: 'pipeline.yaml',
      baseId: 'train',
    }).catch((e: unknown) => e as Error);
    expect((error as Error).message).toBe(
      'Invalid parameters of step "train[n=1]" in pipeline.yaml (1 issue):\n' +
        '  pipeline.yaml steps.train.with.command: expected a string or a list, got 42',
    );
  });
});

describe('a pipeline file with wrong exec parameters, run through the runtime', () => {
  it('is refused before anything runs, with the file, line and column', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'beamline-params-'));
    writeFileSync(
      path.join(cwd, 'pipeline.yaml'),
      'name: p\nsteps:\n  build:\n    uses: exec\n    with:\n      comand: make\n',
    );
    const runtime = await createRuntime({ cwd, store: new MemoryStore() });
    try {
      const error = await runtime.runFile('pipeline.yaml').catch((e: unknown) => e as Error);
      expect(isCoreError(error, 'CORE_PARAMS_INVALID')).toBe(true);
      const file = path.join(cwd, 'pipeline.yaml');
      expect((error as Error).message.split('\n')).toEqual([
        `Invalid parameters of step "build" in ${file} (2 issues):`,
        `  ${file}:5:5 steps.build.with.command: expected a string or a list, but it is missing`,
        `  ${file}:6:7 steps.build.with.comand: unknown parameter "comand" (did you mean "command"?); allowed: command, env, workdir, image, inputs, outputs`,
      ]);
      expect(await runtime.store.listRuns()).toEqual([]);
    } finally {
      await runtime.close();
    }
  });
});
