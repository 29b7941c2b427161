import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '@beamline/core';
import { main } from './main.js';
import { createFakeIO } from './testing/fake-io.js';

// Names users choose, through the program: step ids, params (`--param`), output and metric names, env
// variables and profiles named like Object.prototype's members are ordinary names in run, show (text and
// --json), logs, explain, resume and the cache; `__proto__` is kept where a program prints it and refused
// with the file and line where a pipeline declares it.

const NAMES = ['constructor', 'toString', 'hasOwnProperty', 'valueOf'] as const;

async function cli(
  cwd: string,
  argv: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = createFakeIO({ cwd, env });
  const code = await main(argv, io);
  return { code, stdout: io.stdout.text, stderr: io.stderr.text };
}

const q = (text: string) => JSON.stringify(text);

/**
 * Step `<name>` prints outputs and no metric (a step without metrics once showed an empty `metrics` line:
 * the lookup found `Object.prototype.<name>`); step `m` prints the metrics; `after` reads the outputs.
 */
function pipeline(name: string): string {
  return [
    'name: names',
    'params:',
    `  ${name}: { type: string, default: from-default }`,
    'steps:',
    `  ${name}:`,
    '    uses: exec',
    '    with:',
    `      command: ${q(`test -f again || { touch again; exit 3; }; echo '::output ${name}=\${{ params.${name} }}'; echo '::output __proto__=kept'`)}`,
    '  m:',
    '    uses: exec',
    `    with: { command: ${q(`echo '::metric ${name}=1'; echo '::metric __proto__=2'`)} }`,
    '  after:',
    '    uses: exec',
    `    with: { command: ${q(`echo "got \${{ steps.${name}.outputs.${name} }} \${{ steps.${name}.outputs.__proto__ }}"`)} }`,
  ].join('\n');
}

interface ShowJson {
  status: string;
  steps: Record<string, { status: string; attempt: number; outputs?: Record<string, unknown> }>;
  params: Record<string, unknown>;
  metrics: Record<string, Record<string, number>>;
}

describe.each<string>(NAMES)('beamline with the name %s', (name) => {
  let dir: string;
  let runId = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beamline-cli-names-'));
    await writeFile(join(dir, 'names.yaml'), pipeline(name));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('run with --param: the step fails once, resume finishes it', async () => {
    const failed = await cli(dir, ['run', 'names.yaml', '--param', `${name}=from-cli`, '--json']);
    expect(failed.code).toBe(1);
    const events = failed.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as RunEvent);
    runId = events[0]!.runId;
    const resumed = await cli(dir, ['resume', runId]);
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain('3 steps: 3 succeeded, 0 cached, 0 failed');
    expect(resumed.stdout).toMatch(new RegExp(`Metrics\\n\\s+m\\s+${name}=1 __proto__=2`));
  });

  it('show lists every step with its own outputs and metrics only', async () => {
    const { code, stdout } = await cli(dir, ['show', runId]);
    expect(code).toBe(0);
    // One metrics line: the one of `m`.
    expect(stdout.match(/metrics/g)).toHaveLength(1);
    expect(stdout).toContain(`metrics    ${name}=1 __proto__=2`);
    expect(stdout).toContain(`params    ${name}="from-cli"`);
    expect(stdout).toMatch(new RegExp(`\\n  ${name}  succeeded  attempt 2`));
    expect(stdout).toContain(`output     ${name} = from-cli\n      output     __proto__ = kept\n`);

    const json = JSON.parse((await cli(dir, ['show', runId, '--json'])).stdout) as ShowJson;
    expect(Object.keys(json.steps)).toEqual([name, 'm', 'after']);
    expect(json.steps[name]?.attempt).toBe(2);
    expect(Object.entries(json.steps[name]?.outputs ?? {})).toEqual([
      ['exitCode', 0],
      [name, 'from-cli'],
      ['__proto__', 'kept'],
    ]);
    expect(Object.keys(json.metrics)).toEqual(['m']);
    expect(Object.entries(json.metrics.m ?? {})).toEqual([
      [name, 1],
      ['__proto__', 2],
    ]);
    expect(Object.keys(json.params)).toEqual([name]);
  });

  it('logs and explain find the step; a prototype member that is no step is not found', async () => {
    const logs = await cli(dir, ['logs', runId, 'after']);
    expect(logs.stdout).toBe('got from-cli kept\n');
    expect((await cli(dir, ['logs', runId, name])).code).toBe(0);
    const explain = await cli(dir, ['explain', runId, name]);
    expect(explain.code).toBe(0);
    expect(explain.stdout).toContain(`${name}  succeeded`);
    const missing = await cli(dir, ['explain', runId, 'isPrototypeOf']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('has no step "isPrototypeOf"');
  });

  it('a second run is served from the cache with the same outputs', async () => {
    const { code, stdout } = await cli(dir, ['run', 'names.yaml', '--param', `${name}=from-cli`]);
    expect(code).toBe(0);
    expect(stdout).toContain('3 steps: 0 succeeded, 3 cached, 0 failed');
    const second = JSON.parse(
      (await cli(dir, ['show', stdout.match(/run (\S+) started/)![1]!, '--json'])).stdout,
    ) as ShowJson;
    expect(Object.entries(second.steps[name]?.outputs ?? {})).toContainEqual(['__proto__', 'kept']);
    expect(Object.keys(second.metrics)).toEqual(['m']);
  });

  it('explain names an env variable of that name that was added as new, not as a change from a function', async () => {
    const step = (env: string) =>
      `name: env\nsteps:\n  e:\n    uses: exec\n    with: { command: "true", env: { ${env} } }\n`;
    await writeFile(join(dir, 'env.yaml'), step('A: "1"'));
    expect((await cli(dir, ['run', 'env.yaml'])).code).toBe(0);
    await writeFile(join(dir, 'env.yaml'), step(`A: "1", ${name}: "new"`));
    const { stdout } = await cli(dir, ['run', 'env.yaml', '--json']);
    const latest = (JSON.parse(stdout.split('\n')[0]!) as RunEvent).runId;
    const explain = await cli(dir, ['explain', latest, 'e']);
    expect(explain.stdout).toContain(`params         env.${name}: (none) → new`);
  });
});

describe('beamline refuses __proto__ where a pipeline declares it', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beamline-cli-proto-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a step id __proto__ (it ran, then vanished from the run) is a pipeline error with its line; nothing runs', async () => {
    // The lead's reproduction.
    await writeFile(
      join(dir, 's.yaml'),
      "name: p\nsteps:\n  __proto__:\n    uses: exec\n    with: { command: 'echo hi' }\n  after:\n    uses: exec\n    needs: [__proto__]\n    with: { command: 'echo ${{ steps.__proto__.outputs.exitCode }}' }\n",
    );
    const { code, stdout, stderr } = await cli(dir, ['run', 's.yaml']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(`${join(dir, 's.yaml')}:3:3 steps.__proto__: "__proto__" cannot be a step id`);
    expect((await cli(dir, ['runs', '--json'])).stdout).toBe('');
  });

  it('--param __proto__=… is an unknown param', async () => {
    await writeFile(join(dir, 'p.yaml'), 'name: p\nsteps:\n  a: { uses: exec, with: { command: "true" } }\n');
    const { code, stderr } = await cli(dir, [
      'run',
      'p.yaml',
      '--param',
      '__proto__=1',
      '--param',
      'toString=2',
    ]);
    expect(code).toBe(2);
    expect(stderr).toContain('--param __proto__: unknown param "__proto__"');
    expect(stderr).toContain('--param toString: unknown param "toString"');
  });
});

describe('beamline container run --dry-run with names users choose', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beamline-cli-env-'));
    // `constructor` alone takes its value from the environment, where there is none.
    await writeFile(join(dir, 'env.list'), 'constructor\ntoString=from-file\nhasOwnProperty\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const body = (stdout: string) => JSON.parse(stdout.slice(stdout.indexOf('\n\n') + 2)) as { Env: string[] };

  it('env variables named like prototype members are ordinary variables', async () => {
    const { code, stdout, stderr } = await cli(
      dir,
      ['container', 'run', '--dry-run', '--env-file', 'env.list', '-e', 'valueOf=v', 'busybox:1.36', 'env'],
      { hasOwnProperty: 'from-env' },
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(body(stdout).Env.filter((entry) => !entry.startsWith('HOME='))).toEqual([
      'toString=from-file',
      'hasOwnProperty=from-env',
      'valueOf=v',
    ]);
  });

  it('an env variable __proto__ (it was dropped) and a profile named constructor are refused', async () => {
    const proto = await cli(dir, [
      'container',
      'run',
      '--dry-run',
      '-e',
      '__proto__=x',
      'busybox:1.36',
      'env',
    ]);
    expect(proto.code).toBe(2);
    expect(proto.stderr).toContain('env.__proto__: "__proto__" cannot be a key');
    const profile = await cli(dir, [
      'container',
      'run',
      '--dry-run',
      '--profile',
      'constructor',
      'busybox:1.36',
      'env',
    ]);
    expect(profile.code).toBe(2);
    expect(profile.stderr).toContain('unknown profile "constructor"');
  });
});
