import { execFile } from 'node:child_process';
import { existsSync, realpathSync, statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { requireService } from '@beamline/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The README's first contact: after `bash scripts/demo.sh`, `npx beamline …` works in the repository.
// npm links a workspace's bin at install time, and skips it when the file does not exist yet, so the
// bin must be part of the source tree, not of the build.

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('..', import.meta.url));
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

interface PackageJson {
  name: string;
  type: string;
  bin: Record<string, string>;
}

const pkg = JSON.parse(await readFile(join(CLI, 'package.json'), 'utf8')) as PackageJson;
const binPath = join(CLI, pkg.bin.beamline ?? '');

/** The program's output and exit code, also when it fails. */
async function spawnText(
  file: string,
  args: string[],
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(file, args, { cwd, env: { ...process.env, NO_COLOR: '1' } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    return {
      code: typeof failed.code === 'number' ? failed.code : -1,
      stdout: failed.stdout ?? '',
      stderr: failed.stderr ?? '',
    };
  }
}

describe('the beamline bin', () => {
  it('is an executable file of the source tree, so npm can link it before the first build', () => {
    expect(binPath.startsWith(join(CLI, 'bin'))).toBe(true);
    expect(statSync(binPath).mode & 0o111).not.toBe(0);
  });

  describe('in a fresh install of the package (no build yet)', () => {
    let dir: string;
    beforeAll(async () => {
      // A workspace holding only this package's declaration and its bin folder: `npm install` needs
      // neither the network nor a build for it, and links bins the way it does in the repository.
      dir = await mkdtemp(join(tmpdir(), 'beamline-bin-'));
      await writeFile(
        join(dir, 'package.json'),
        JSON.stringify({ name: 'ws', private: true, workspaces: ['cli'] }),
      );
      await mkdir(join(dir, 'cli', 'bin'), { recursive: true });
      const { name, type, bin } = pkg;
      await writeFile(
        join(dir, 'cli', 'package.json'),
        JSON.stringify({ name, version: '0.0.0', type, bin }),
      );
      await copyFile(binPath, join(dir, 'cli', pkg.bin.beamline ?? ''));
      await run('npm', ['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: dir });
    }, 60_000);
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('npm links node_modules/.bin/beamline, and it says how to build instead of crashing', async () => {
      const linked = join(dir, 'node_modules', '.bin', 'beamline');
      expect(existsSync(linked)).toBe(true);
      const result = await spawnText(linked, ['--help'], dir);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('beamline is not built yet');
      expect(result.stderr).toContain("Build it with 'npm run build'");
      expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    });
  });

  const built = requireService(
    'a built beamline (packages/cli/dist)',
    existsSync(join(CLI, 'dist', 'bin.js')),
    "Run 'npm run build' (scripts/test-all.sh builds before testing).",
  );

  describe.skipIf(!built)('in this repository, after the build', () => {
    it('node_modules/.bin/beamline is the linked bin', () => {
      expect(realpathSync(join(ROOT, 'node_modules', '.bin', 'beamline'))).toBe(realpathSync(binPath));
    });

    it("'npx beamline' runs from the repository root and from the example's folder", async () => {
      const help = await spawnText('npx', ['--no-install', 'beamline', '--help'], ROOT);
      expect(help).toMatchObject({ code: 0, stderr: '' });
      expect(help.stdout).toMatch(/^Usage: beamline \[options\] \[command\]/);
      const example = join(ROOT, 'examples', 'train-eval');
      const runs = await spawnText('npx', ['--no-install', 'beamline', 'runs', '--json'], example);
      expect(runs.code).toBe(0);
    }, 60_000);
  });
});
