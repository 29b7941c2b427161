// The packed-tarball compatibility check: the example plugin (examples/custom-plugin: type-check and its
// tests) and a freshly scaffolded plugin (create-beamline-plugin, every part: type-check and build) against
// @beamline/core as `npm pack` ships it (its `files` and `exports` map, the built dist), not the
// workspace's sources, so a missing export, a file left out of the tarball or a wrong `exports` entry
// fails here before a release.
//
//   node scripts/check-compat.mjs           needs built packages (npm run build); exit 1 on any failure
//
// The plugins are copied into a scratch folder outside the workspace whose node_modules holds the
// unpacked tarball as @beamline/core and links to everything else in the repository's node_modules
// (core's own dependencies, TypeScript, Vitest), so nothing can reach the workspace's core: TypeScript
// looks for types in every ancestor node_modules, which inside the workspace would find the sources'
// package and hide a missing export.
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules/.bin', name);
const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
let failures = 0;

function step(title, argv, cwd) {
  const result = spawnSync(argv[0], argv.slice(1), { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ok = result.status === 0;
  console.log(`${ok ? 'ok' : 'FAILED'}: ${title}`);
  if (!ok) {
    failures++;
    console.log(
      `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`
        .trimEnd()
        .split('\n')
        .slice(-40)
        .join('\n'),
    );
  }
  return ok;
}

/**
 * The copied package's tsconfig.json (the compiler and Vitest's transform read it): the repository's
 * settings, without the `source` condition.
 */
function consumerTsconfig(dir, include) {
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      extends: join(root, 'tsconfig.base.json'),
      compilerOptions: { noEmit: true, customConditions: [] },
      include,
    }),
  );
}

for (const [what, file] of [
  ['@beamline/core', 'packages/core/dist/index.js'],
  ['create-beamline-plugin', 'packages/create-beamline-plugin/dist/index.js'],
]) {
  if (!existsSync(join(root, file))) {
    console.log(`FAILED: ${what} is not built (${file} is missing): run npm run build first`);
    process.exit(1);
  }
}

const scratch = mkdtempSync(join(tmpdir(), 'beamline-compat-'));
const packs = join(scratch, 'packs');
mkdirSync(packs);
try {
  // 1. Core as npm would ship it.
  if (
    !step(
      'npm pack @beamline/core',
      ['npm', 'pack', '-w', '@beamline/core', '--pack-destination', packs, '--silent'],
      root,
    )
  ) {
    process.exit(1);
  }
  const tarball = join(
    packs,
    readdirSync(packs).find((name) => name.endsWith('.tgz')),
  );
  // One node_modules for both plugins: the unpacked tarball as @beamline/core, links for the rest.
  const modules = join(scratch, 'node_modules');
  mkdirSync(join(modules, '@beamline/core'), { recursive: true });
  for (const entry of readdirSync(join(root, 'node_modules'))) {
    if (entry === '@beamline' || entry.startsWith('.')) continue;
    symlinkSync(join(root, 'node_modules', entry), join(modules, entry));
  }
  const unpack = ['tar', '-xzf', tarball, '-C', join(modules, '@beamline/core'), '--strip-components=1'];
  if (!step('unpack the core tarball', unpack, root)) process.exit(1);

  // 2. The example plugin: its sources type-checked, and its tests that use only core's API run, on the tarball.
  const example = join(scratch, 'custom-plugin');
  cpSync(join(root, 'examples/custom-plugin'), example, {
    recursive: true,
    filter: (source) => !/\/(node_modules|dist|\.beamline)$/.test(source),
  });
  consumerTsconfig(example, ['src']);
  step(
    'examples/custom-plugin type-checks against the packed core',
    [bin('tsc'), '-p', 'tsconfig.json'],
    example,
  );
  writeFileSync(
    join(example, 'vitest.compat.config.mjs'),
    `export default { test: { include: ['src/**/*.test.ts'], testTimeout: 60000 } };\n`,
  );
  step(
    'examples/custom-plugin tests run on the packed core',
    [bin('vitest'), 'run', '--config', 'vitest.compat.config.mjs'],
    example,
  );

  // 3. A scaffolded plugin with every part (its tests import @beamline/core/testing): type-check and build.
  const { createPlugin } = await import(join(root, 'packages/create-beamline-plugin/dist/index.js'));
  const scaffolded = join(scratch, 'scaffolded');
  await createPlugin({
    name: 'compat-check',
    directory: scaffolded,
    features: ['command', 'runner', 'service'],
  });
  step(
    'a scaffolded plugin type-checks against the packed core',
    [bin('tsc'), '-p', 'tsconfig.json'],
    scaffolded,
  );
  // (Its tests run in create-beamline-plugin's own tests, on the workspace's built core.)
  step(
    'a scaffolded plugin builds against the packed core',
    [bin('tsc'), '-p', 'tsconfig.build.json'],
    scaffolded,
  );
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
console.log(
  failures === 0
    ? 'compatibility with the packed core: ok'
    : `compatibility with the packed core: ${failures} failure(s)`,
);
process.exitCode = failures === 0 ? 0 : 1;
