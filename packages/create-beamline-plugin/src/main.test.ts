import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from './main.js';

let cwd: string;
beforeEach(async () => {
  cwd = await mkdtemp(join(tmpdir(), 'create-beamline-plugin-'));
});
afterEach(() => rm(cwd, { recursive: true, force: true }));

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { cwd, write: (text) => (out += text), writeError: (text) => (err += text) });
  return { code, out, err };
}

describe('create-beamline-plugin', () => {
  it('generates a package in ./<package name> by default and says what to do next', async () => {
    const { code, out, err } = await cli('acme');
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toContain('Created beamline-plugin-acme in beamline-plugin-acme (14 files).');
    expect(out).toContain('cd beamline-plugin-acme\n  npm install\n  npm test');
    const manifest = JSON.parse(await readFile(join(cwd, 'beamline-plugin-acme/package.json'), 'utf8')) as {
      peerDependencies: Record<string, string>;
    };
    expect(manifest.peerDependencies).toEqual({ '@beamline/core': '^0.1.0' });
    expect(await readdir(join(cwd, 'beamline-plugin-acme/src'))).toEqual([
      'acme-error.ts',
      'create-acme-plugin.ts',
      'hello-command.ts',
      'index.ts',
      'tokens.ts',
    ]);
  });

  it('writes a scoped package under --dir, with the features asked for', async () => {
    const { code } = await cli(
      'lab',
      '--package',
      '@lab/beamline-lab',
      '--with',
      'runner,service',
      '--dir',
      'out/x',
    );
    expect(code).toBe(0);
    expect((await readdir(join(cwd, 'out/x/src'))).sort()).toEqual([
      'create-lab-plugin.ts',
      'index.ts',
      'lab-error.ts',
      'lab-runner.ts',
      'lab-service.ts',
      'tokens.ts',
    ]);
    expect(await readFile(join(cwd, 'out/x/package.json'), 'utf8')).toContain('"name": "@lab/beamline-lab"');
  });

  it('never touches an existing non-empty folder or a file, and leaves nothing behind', async () => {
    await mkdir(join(cwd, 'taken'));
    await writeFile(join(cwd, 'taken/keep.txt'), 'mine');
    await writeFile(join(cwd, 'file'), 'mine');
    for (const dir of ['taken', 'file']) {
      const { code, err } = await cli('acme', '--dir', dir);
      expect(code).toBe(2);
      expect(err).toMatch(/already exists and is not an empty folder: choose another --dir/);
    }
    expect(await readdir(join(cwd, 'taken'))).toEqual(['keep.txt']);
    expect(await readFile(join(cwd, 'file'), 'utf8')).toBe('mine');
    expect((await readdir(cwd)).sort()).toEqual(['file', 'taken']);
  });

  it('fills an existing empty folder', async () => {
    await mkdir(join(cwd, 'empty'));
    expect((await cli('acme', '--dir', 'empty')).code).toBe(0);
    expect(await readdir(join(cwd, 'empty'))).toContain('package.json');
  });

  it('answers bad input with exit code 2, the problem and where to find the usage', async () => {
    const cases: [string[], RegExp][] = [
      [[], /the plugin name is missing/],
      [['a', 'b'], /expected one name, got 2/],
      [['Acme'], /plugin name "Acme": expected lowercase/],
      [['acme', '--with', 'store'], /unknown: store/],
      [['acme', '--package', 'Bad Name'], /package name "Bad Name": expected an npm package name/],
      [['acme', '--colour'], /Unknown option '--colour'/],
    ];
    for (const [argv, message] of cases) {
      const { code, out, err } = await cli(...argv);
      expect(code, argv.join(' ')).toBe(2);
      expect(out).toBe('');
      expect(err).toMatch(message);
      expect(err).toContain('Run with --help for the usage.');
    }
    expect(await readdir(cwd)).toEqual([]);
  });

  it('prints its usage with --help', async () => {
    const { code, out } = await cli('--help');
    expect(code).toBe(0);
    expect(out).toContain('Usage: npm create beamline-plugin <name>');
    expect(out).toContain('--with <list>');
  });
});
