import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, expect, it } from 'vitest';

// The packed-tarball compatibility check (scripts/check-compat.mjs): the example plugin and a scaffolded
// plugin against @beamline/core as `npm pack` ships it. It needs the built packages: CI builds first; a
// package that was never built is built here.
const repo = fileURLToPath(new URL('../../..', import.meta.url));

beforeAll(() => {
  for (const pkg of ['core', 'create-beamline-plugin']) {
    const dir = join(repo, 'packages', pkg);
    if (existsSync(join(dir, 'dist/index.js'))) continue;
    const built = spawnSync(join(repo, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], {
      cwd: dir,
      encoding: 'utf8',
    });
    if (built.status !== 0)
      throw new Error(`building packages/${pkg} failed:\n${built.stdout}${built.stderr}`);
  }
}, 300_000);

it('builds the example plugin and a scaffolded plugin against the packed core tarball', async () => {
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [join(repo, 'scripts/check-compat.mjs')], {
      cwd: repo,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.on('error', reject);
    child.on('close', (exit) => resolve({ code: exit, output: text }));
  });
  expect(code, output).toBe(0);
  expect(output).toContain('ok: examples/custom-plugin tests run on the packed core');
  expect(output).toContain('ok: a scaffolded plugin type-checks against the packed core');
  expect(output).toContain('compatibility with the packed core: ok');
}, 300_000);
