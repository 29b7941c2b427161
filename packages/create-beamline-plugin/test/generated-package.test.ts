import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { satisfies } from 'semver';
import { createPlugin } from '../src/create-plugin.js';
import { FEATURES, type Feature } from '../src/features.js';
import { TOOL_VERSIONS } from '../src/templates/config-files.js';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const bin = (name: string): string => join(repo, 'node_modules/.bin', name);

/** Every non-empty combination of features. */
const COMBINATIONS: Feature[][] = [1, 2, 3, 4, 5, 6, 7].map((mask) =>
  FEATURES.filter((_, i) => mask & (1 << i)),
);

function run(argv: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', CI: process.env.CI ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

async function ok(argv: string[], cwd: string): Promise<string> {
  const { code, output } = await run(argv, cwd);
  expect(code, `${argv.join(' ')} in ${cwd}:\n${output}`).toBe(0);
  return output;
}

// Generated inside the workspace, so that the packages resolve @beamline/core, vitest, eslint… from the
// repository's node_modules: core as a consumer gets it, through its exports map to the built dist.
const scratch = fileURLToPath(new URL(`../.scratch/${process.pid}`, import.meta.url));
const dirOf = (features: readonly Feature[]): string => join(scratch, features.join('-'));

describe('a generated plugin package', () => {
  beforeAll(async () => {
    if (!existsSync(join(repo, 'packages/core/dist/testing/index.js'))) {
      await ok([bin('tsc'), '-p', 'tsconfig.build.json'], join(repo, 'packages/core'));
    }
    await mkdir(scratch, { recursive: true });
    for (const features of COMBINATIONS) {
      await createPlugin({ name: 'acme-lab', features, directory: dirOf(features) });
    }
  }, 180_000);

  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
    // The parent too, unless another run's folder is still in it.
    await rmdir(dirname(scratch)).catch(() => undefined);
  });

  it('type-checks and is formatted, for every combination of features', async () => {
    // One compiler run over all seven packages (each with its own settings would take seven).
    const settings = JSON.parse(await readFile(join(dirOf(['command']), 'tsconfig.json'), 'utf8')) as {
      compilerOptions: object;
    };
    await writeFile(
      join(scratch, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: settings.compilerOptions,
        include: ['*/src', '*/test', '*/vitest.config.ts'],
      }),
    );
    await ok([bin('tsc'), '-p', 'tsconfig.json'], scratch);
    for (const features of COMBINATIONS) await ok([bin('prettier'), '--check', '.'], dirOf(features));
  }, 180_000);

  it.each([[['command', 'runner', 'service']]] as Feature[][][])(
    'with %j passes its own lint, tests (the runner contract suite included), build and publint',
    async (features) => {
      const dir = dirOf(features);
      await ok([bin('eslint'), 'src', 'test'], dir);
      const tests = await ok([bin('vitest'), 'run', '--reporter=verbose'], dir);
      expect(tests).toMatch(/Tests\s+\d+ passed/);
      if (features.includes('runner')) expect(tests).toContain('Runner contract: AcmeLabRunner');
      await ok([bin('tsc'), '-p', 'tsconfig.build.json'], dir);
      expect(existsSync(join(dir, 'dist/index.d.ts'))).toBe(true);
      expect(await ok([bin('publint'), '--strict', '.'], dir)).toContain('All good!');
    },
    240_000,
  );

  it("targets the repository's tools and the current core", async () => {
    const root = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    for (const [name, range] of Object.entries(TOOL_VERSIONS)) {
      if (name !== '@types/node') expect(root.devDependencies[name], name).toBe(range);
    }
    const core = JSON.parse(await readFile(join(repo, 'packages/core/package.json'), 'utf8')) as {
      version: string;
    };
    const generated = JSON.parse(await readFile(join(dirOf(['command']), 'package.json'), 'utf8')) as {
      peerDependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    expect(satisfies(core.version, generated.peerDependencies['@beamline/core']!)).toBe(true);
    expect(generated.devDependencies['@beamline/core']).toBe(core.version);
  });
});
