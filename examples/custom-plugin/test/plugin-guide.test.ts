import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { satisfies } from 'semver';
import { parse as parseYaml } from 'yaml';
import { guideFiles } from './support/guide-files.js';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const guide = join(repo, 'docs/plugin-guide.md');
const { files, unannotated } = guideFiles(guide);

/** Runs a program to its end; resolves with its exit code and output. */
function run(
  argv: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('docs/plugin-guide.md', () => {
  let project: string;

  beforeAll(async () => {
    // The guide's blocks as the files of one package, resolving @beamline/core and the rest from the
    // repository's node_modules (core through its `source` condition: no build needed).
    project = await mkdtemp(join(tmpdir(), 'beamline-plugin-guide-'));
    await symlink(join(repo, 'node_modules'), join(project, 'node_modules'), 'dir');
    for (const file of files) {
      await mkdir(dirname(join(project, file.path)), { recursive: true });
      await writeFile(join(project, file.path), file.text);
    }
    const base = { extends: join(repo, 'tsconfig.base.json'), compilerOptions: { noEmit: true } };
    await writeFile(
      join(project, 'tsconfig.json'),
      JSON.stringify({ ...base, include: ['**/*.ts'], exclude: ['node_modules'] }),
    );
    // tsx applies a tsconfig (decorators) only to the files it includes: core's sources too.
    await writeFile(
      join(project, 'tsconfig.tsx.json'),
      JSON.stringify({
        ...base,
        include: ['**/*.ts', join(repo, 'packages/core/src')],
        exclude: ['node_modules'],
      }),
    );
    await writeFile(
      join(project, 'vitest.config.mjs'),
      `import { defineConfig } from 'vitest/config';\n` +
        `const conditions = ['source', 'module', 'node', 'development|production'];\n` +
        `export default defineConfig({ resolve: { conditions }, ssr: { resolve: { conditions, externalConditions: ['source'] } } });\n`,
    );
  }, 60_000);

  afterAll(async () => {
    if (project) await rm(project, { recursive: true, force: true });
  });

  it('has every TypeScript, YAML and JSON block annotated as a file of the guide project', () => {
    expect(unannotated).toEqual([]);
    expect(files.filter((file) => file.run).length).toBeGreaterThan(0);
    expect(files.filter((file) => file.test).length).toBeGreaterThan(0);
  });

  it('parses its YAML and JSON blocks; the package declares core as a peer in a range holding the current core', async () => {
    for (const file of files.filter((f) => ['yaml', 'yml'].includes(f.lang)))
      expect(() => parseYaml(file.text) as unknown).not.toThrow();
    const manifests = files
      .filter((f) => f.lang === 'json')
      .map((f) => JSON.parse(f.text) as Record<string, Record<string, string>>);
    const manifest = manifests.find((m) => m.peerDependencies?.['@beamline/core']);
    const core = JSON.parse(await readFile(join(repo, 'packages/core/package.json'), 'utf8')) as {
      version: string;
    };
    expect(satisfies(core.version, manifest!.peerDependencies!['@beamline/core']!)).toBe(true);
  });

  it('type-checks every TypeScript block together against the current core', async () => {
    const { code, output } = await run(
      [process.execPath, join(repo, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'],
      project,
    );
    expect(output).toBe('');
    expect(code).toBe(0);
  }, 120_000);

  it('runs its programs', async () => {
    for (const file of files.filter((f) => f.run)) {
      const { code, output } = await run(
        [process.execPath, '--conditions=source', '--import', 'tsx', file.path],
        project,
        {
          TSX_TSCONFIG_PATH: join(project, 'tsconfig.tsx.json'),
        },
      );
      expect(`${file.path} (guide line ${file.line}): exit ${code}\n${output}`).toBe(
        `${file.path} (guide line ${file.line}): exit 0\nok\n`,
      );
    }
  }, 120_000);

  it('runs its tests (the contract suites included)', async () => {
    const tests = files.filter((f) => f.test).map((f) => f.path);
    const { code, output } = await run(
      [
        process.execPath,
        join(repo, 'node_modules/vitest/vitest.mjs'),
        'run',
        '--config',
        'vitest.config.mjs',
        ...tests,
      ],
      project,
      { CI: process.env.CI ?? '' },
    );
    expect(code, output).toBe(0);
    expect(output).toMatch(/Tests\s+\d+ passed/);
  }, 300_000);
});
