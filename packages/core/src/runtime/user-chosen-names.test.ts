import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../contracts/events.js';
import type { Runtime } from '../contracts/runtime.js';
import type { RunRecord, Store } from '../contracts/store.js';
import { isCoreError, type CoreError } from '../errors/core-error.js';
import { MemoryStore } from '../store/memory-store.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { createRuntime } from './create-runtime.js';

// Step ids, param names, matrix keys and values, output, metric and env names are chosen by users. The
// names of Object.prototype's members are ordinary names end to end; `__proto__` is kept as data where a
// program chooses it (outputs, metrics, matrix values) and refused, with the file and line, where a
// pipeline would declare it (no JavaScript object can pass it on as data).

const NAMES = ['constructor', 'toString', 'hasOwnProperty', 'valueOf'] as const;

/** A scalar as YAML reads it (JSON's string syntax is YAML's double-quoted scalar). */
const q = (text: string) => JSON.stringify(text);

function namesPipeline(name: string): string {
  return [
    'name: names',
    'params:',
    `  ${name}: { type: string, default: from-param }`,
    'steps:',
    `  ${name}:`,
    '    uses: exec',
    '    with:',
    `      command: ${q(
      [
        `echo '::output ${name}=\${{ params.${name} }}'`,
        `echo '::output __proto__=proto-out'`,
        `echo "::output env=$(printenv ${name})"`,
        `echo '::metric ${name}=1'`,
        `echo '::metric __proto__=2'`,
      ].join('; '),
    )}`,
    `      env: { ${name}: ${q(`\${{ params.${name} }}`)} }`,
    '  files:',
    '    uses: exec',
    '    with:',
    `      command: "echo data > out.txt"`,
    `      outputs: { ${name}: out.txt }`,
    '  fan:',
    '    uses: exec',
    `    matrix: { ${name}: [${name}, __proto__] }`,
    `    with: { command: ${q(`echo '::output v=\${{ matrix.${name} }}'`)} }`,
    '  last:',
    '    uses: exec',
    '    with:',
    `      command: ${q(
      `echo '::output all=\${{ steps.${name}.outputs.${name} }} \${{ steps.${name}.outputs.__proto__ }} ` +
        `\${{ steps.${name}.outputs.env }} \${{ steps.fan.outputs.v }}'`,
    )}`,
  ].join('\n');
}

async function setup(store?: (cwd: string) => Store): Promise<{ runtime: Runtime; cwd: string }> {
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'beamline-names-'));
  const runtime = await createRuntime({
    cwd,
    store: store?.(cwd) ?? SqliteStore.open({ cwd }),
    resources: { cpus: 4, memoryMb: 1024, gpus: [] },
  });
  return { runtime, cwd };
}

async function collect(store: Store, runId: string): Promise<RunEvent[]> {
  const events: RunEvent[] = [];
  for await (const event of store.readEvents(runId)) events.push(event);
  return events;
}

describe.each<string>(NAMES)('the name %s', (name) => {
  it('works as a step id, param, matrix key, env variable and output and metric name: run, cache, explain, store', async () => {
    const { runtime, cwd } = await setup();
    const file = path.join(cwd, 'names.yaml');
    writeFileSync(file, namesPipeline(name));
    const ids = [name, 'files', `fan[${name}=${name}]`, 'fan[' + name + '=__proto__]', 'last'];
    try {
      const first = await (await runtime.runFile(file)).done;
      expect(first.status).toBe('succeeded');
      expect(Object.keys(first.steps)).toEqual(ids);
      const step = first.steps[name]!;
      expect(Object.hasOwn(first.steps, name)).toBe(true);
      expect(step.stepId).toBe(name);
      // `::output __proto__=…` is an output like any other, not the prototype of the outputs.
      expect(Object.entries(step.outputs ?? {})).toEqual([
        ['exitCode', 0],
        [name, 'from-param'],
        ['__proto__', 'proto-out'],
        ['env', 'from-param'],
      ]);
      expect(Object.getPrototypeOf(step.outputs)).toBe(Object.prototype);
      const files = first.steps.files!;
      expect(Object.keys(files.outputs ?? {})).toEqual(['exitCode', name]);
      expect(files.artifacts?.map((artifact) => artifact.name)).toEqual([name]);
      expect(first.steps.last?.outputs?.all).toBe(`from-param proto-out from-param ["${name}","__proto__"]`);

      const events = await collect(runtime.store, first.runId);
      const metrics = events.filter((event) => event.type === 'metric' && event.stepId === name);
      expect(metrics.map((event) => (event.type === 'metric' ? event.name : ''))).toEqual([
        name,
        '__proto__',
      ]);

      const explained = await runtime.explain(first.runId, name);
      expect(explained.status).toBe('succeeded');
      // A step id the run does not have is not found, even when Object.prototype has a member of that name.
      await expect(runtime.explain(first.runId, 'isPrototypeOf')).rejects.toSatisfy((error) =>
        isCoreError(error, 'CORE_STEP_NOT_FOUND'),
      );

      // The cache gives the same outputs back, `__proto__` included, and `explain` says why.
      const second = await (await runtime.runFile(file)).done;
      expect(Object.values(second.steps).map((s) => s.status)).toEqual(ids.map(() => 'cached'));
      expect(Object.entries(second.steps[name]!.outputs ?? {})).toEqual(Object.entries(step.outputs ?? {}));
      expect(second.steps.last?.outputs?.all).toBe(first.steps.last?.outputs?.all);
      expect((await runtime.explain(second.runId, name)).summary).toMatch(/Served from the cache/);
    } finally {
      await runtime.close();
    }

    // Read back by another store on the same file: the same steps and outputs.
    const reopened = SqliteStore.open({ cwd });
    try {
      const runs = await reopened.listRuns();
      const state = await reopened.runState(runs.at(-1)!.id);
      expect(Object.keys(state?.steps ?? {})).toEqual(ids);
      expect(Object.entries(state?.steps[name]?.outputs ?? {})).toContainEqual(['__proto__', 'proto-out']);
    } finally {
      await reopened.close();
    }
  });

  it('resumes a run whose step of that name failed', async () => {
    const { runtime, cwd } = await setup();
    const file = path.join(cwd, 'resume.yaml');
    writeFileSync(
      file,
      [
        'name: resume-names',
        'steps:',
        `  ${name}:`,
        '    uses: exec',
        `    with: { command: ${q("test -f again || { touch again; exit 3; }; echo '::output __proto__=second'")} }`,
        '  after:',
        '    uses: exec',
        `    with: { command: ${q(`echo '::output got=\${{ steps.${name}.outputs.__proto__ }}'`)} }`,
      ].join('\n'),
    );
    try {
      const failed = await (await runtime.runFile(file)).done;
      expect(failed.status).toBe('failed');
      expect(failed.steps[name]?.status).toBe('failed');
      expect(failed.steps.after?.status).toBe('cancelled');
      const resumed = await (await runtime.resume(failed.runId)).done;
      expect(resumed.status).toBe('succeeded');
      expect(resumed.steps[name]?.attempt).toBe(2);
      expect(resumed.steps.after?.outputs?.got).toBe('second');
    } finally {
      await runtime.close();
    }
  });
});

/** A pipeline file, its text and the `file:line:col path` an error must name. */
interface Refused {
  what: string;
  yaml: string;
  at: string;
}

const REFUSED: Refused[] = [
  {
    what: 'a step id',
    yaml: 'name: p\nsteps:\n  __proto__:\n    uses: exec\n    with: { command: "true" }\n',
    at: ':3:3 steps.__proto__: "__proto__" cannot be a step id',
  },
  {
    what: 'a param name',
    yaml: 'name: p\nparams:\n  __proto__: { default: x }\nsteps:\n  a: { uses: exec, with: { command: "true" } }\n',
    at: ':3:3 params.__proto__: "__proto__" cannot be a param name',
  },
  {
    what: 'a matrix key (it was reported as an empty matrix)',
    yaml: 'name: p\nsteps:\n  a:\n    uses: exec\n    matrix: { __proto__: [x] }\n    with: { command: "true" }\n',
    at: ':5:15 steps.a.matrix.__proto__: "__proto__" cannot be a matrix key',
  },
  {
    what: 'an env variable of with: (it was dropped)',
    yaml: 'name: p\nsteps:\n  a:\n    uses: exec\n    with:\n      command: "true"\n      env: { __proto__: x }\n',
    at: ':7:14 steps.a.with.env.__proto__: "__proto__" cannot be a key of a step\'s parameters',
  },
  {
    what: 'an output name in outputs: (it was dropped)',
    yaml: 'name: p\nsteps:\n  a:\n    uses: exec\n    with:\n      command: "true"\n      outputs:\n        __proto__: out.txt\n',
    at: ':8:9 steps.a.with.outputs.__proto__:',
  },
  {
    what: 'a key of a param default',
    yaml: 'name: p\nparams:\n  cfg: { type: object, default: { __proto__: 1 } }\nsteps:\n  a: { uses: exec, with: { command: "true" } }\n',
    at: ':3:35 params.cfg.default.__proto__: "__proto__" cannot be a key',
  },
];

describe('__proto__ where a pipeline declares a name', () => {
  it.each(REFUSED)('is refused as $what, naming the file, line and column', async ({ yaml, at }) => {
    const { runtime, cwd } = await setup((dir) => SqliteStore.open({ cwd: dir }));
    const file = path.join(cwd, 'refused.yaml');
    writeFileSync(file, yaml);
    try {
      const error = await runtime.runFile(file).catch((caught: unknown) => caught);
      expect(isCoreError(error, 'CORE_PIPELINE_INVALID')).toBe(true);
      expect((error as CoreError).message).toContain(`${file}${at}`);
      expect(await runtime.store.listRuns()).toEqual([]);
    } finally {
      await runtime.close();
    }
  });

  it('is refused in a JSON pipeline and in one built in code', async () => {
    const { runtime, cwd } = await setup((dir) => SqliteStore.open({ cwd: dir }));
    const file = path.join(cwd, 'refused.json');
    writeFileSync(
      file,
      '{"name": "j",\n "steps": {"__proto__": {"uses": "exec", "with": {"command": "true"}}}}',
    );
    try {
      await expect(runtime.runFile(file)).rejects.toThrow(
        `${file}:2:12 steps.__proto__: "__proto__" cannot be a step id`,
      );
      const steps = { ['__proto__']: { uses: 'exec', with: { command: 'true' } } };
      await expect(runtime.run({ name: 'code', steps })).rejects.toThrow(
        'steps.__proto__: "__proto__" cannot be a step id',
      );
    } finally {
      await runtime.close();
    }
  });

  it('is refused when a substituted param or output value would hand it to a command', async () => {
    const { runtime, cwd } = await setup();
    const file = path.join(cwd, 'values.yaml');
    writeFileSync(
      file,
      [
        'name: values',
        'params:',
        '  vars: { type: object, default: { A: "1" } }',
        'steps:',
        '  a:',
        '    uses: exec',
        `    with: { command: ${q(`echo '::output vars={"__proto__": "x"}'`)} }`,
        '  b:',
        '    uses: exec',
        '    with:',
        '      command: "true"',
        `      env: ${q('${{ steps.a.outputs.vars }}')}`,
        '  c:',
        '    uses: exec',
        '    with:',
        '      command: "true"',
        `      env: ${q('${{ params.vars }}')}`,
      ].join('\n'),
    );
    try {
      // A param value: refused before the run starts, at the line of the parameter.
      const error = await runtime
        .runFile(file, { params: { vars: JSON.parse('{"__proto__": "x"}') } })
        .catch((caught: unknown) => caught);
      expect(isCoreError(error, 'CORE_PARAMS_INVALID')).toBe(true);
      expect((error as CoreError).message).toContain(
        `${file}:17:7 steps.c.with.env.__proto__: a substituted value holds the key "__proto__"`,
      );
      // An output value: the step that would receive it fails, nothing is dropped silently.
      const result = await (await runtime.runFile(file)).done;
      expect(result.steps.a?.status).toBe('succeeded');
      expect(result.steps.b?.status).toBe('failed');
      expect(result.steps.b?.error?.code).toBe('CORE_PARAMS_INVALID');
      expect(result.steps.b?.error?.message).toContain('steps.b.with.env.__proto__: a substituted value');
      expect(result.steps.c?.status).toBe('cancelled');
    } finally {
      await runtime.close();
    }
  });
});

describe.each([
  ['MemoryStore', (): Store => new MemoryStore()],
  ['SqliteStore', (): Store => SqliteStore.open({ path: ':memory:' })],
])('%s read back', (_name, open) => {
  it('keeps a step recorded as __proto__ (a run from before such ids were refused) as a step', async () => {
    const store = open();
    const runId = 'r-proto';
    const record: RunRecord = {
      id: runId,
      pipeline: 'old',
      plan: { steps: [{ id: '__proto__' }, { id: 'constructor' }] },
      params: {},
      cwd: '/',
      createdAt: 1,
    };
    const step = (seq: number, type: 'queued' | 'succeeded', stepId: string): RunEvent =>
      type === 'queued'
        ? { type, stepId, runId, seq, time: seq }
        : {
            type,
            stepId,
            runId,
            seq,
            time: seq,
            attempt: 1,
            outputs: JSON.parse('{"__proto__": 1}') as Record<string, unknown>,
            artifacts: [],
            durationMs: 1,
          };
    try {
      await store.createRun(record);
      await store.append(runId, [step(1, 'queued', '__proto__'), step(2, 'queued', 'constructor')]);
      await store.append(runId, [step(3, 'succeeded', '__proto__')]);
      const state = await store.runState(runId);
      expect(Object.keys(state?.steps ?? {})).toEqual(['__proto__', 'constructor']);
      expect(Object.hasOwn(state!.steps, '__proto__')).toBe(true);
      expect(Object.getPrototypeOf(state!.steps)).toBe(Object.prototype);
      const [proto, constructor] = ['__proto__', 'constructor'].map((id) => state!.steps[id]);
      expect(proto?.status).toBe('succeeded');
      expect(Object.entries(proto?.outputs ?? {})).toEqual([['__proto__', 1]]);
      expect(constructor?.status).toBe('queued');
      expect((await store.listRuns())[0]?.counts).toEqual({ succeeded: 1, queued: 1 });
    } finally {
      await store.close();
    }
  });
});
