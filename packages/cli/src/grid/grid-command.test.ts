import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveDirectory } from '@beamline/plugin-grid/testing';
import { describe, expect, it } from 'vitest';
import { createFakeIO } from '../testing/fake-io.js';
import { runCli } from '../testing/run-cli.js';
import { gridCommand, parseRate } from './grid-command.js';

const grid = (argv: string[], cwd: string, tty = false): ReturnType<typeof runCli> =>
  runCli(['grid', ...argv], { io: createFakeIO({ cwd, tty }), commands: [gridCommand] });

describe('beamline grid download', () => {
  it('downloads a list, prints a dry-run plan, and rejects bad input with 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-grid-'));
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'a.txt'), 'hello grid');
    const server = await serveDirectory(join(dir, 'data'));
    try {
      writeFileSync(join(dir, 'list.txt'), `${server.fileUrl('a.txt')}\n`);
      const dry = await grid(['download', 'list.txt', '--dest', 'out', '--dry-run'], dir);
      expect(dry.code).toBe(0);
      expect(dry.stdout).toMatch(/download +a\.txt -> .*out\/a\.txt/);
      expect(dry.stdout).toMatch(/^1 files, .* to fetch \(dry run\)$/m);

      const real = await grid(['download', 'list.txt', '--dest', 'out', '--json', '--parallel', '2'], dir);
      expect(real.code).toBe(0);
      expect(readFileSync(join(dir, 'out', 'a.txt'), 'utf8')).toBe('hello grid');
      const types = real.stdout
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { type: string }).type);
      expect(types).toContain('file-done');

      const bad = await grid(['download', 'list.txt', '--dest', 'out', '--parallel', '0'], dir);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain("option '--parallel <n>' argument '0' is invalid");
      const missing = await grid(['download', 'missing.txt', '--dest', 'out'], dir);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(
        /^beamline grid download: cannot read input file .*missing\.txt.*\(GRID_INPUT_INVALID\)$/m,
      );
      expect(
        (await grid(['download', 'list.txt', '--dest', 'out', '--checksum', 'crc'], dir)).stderr,
      ).toContain('expected one of adler32, md5, sha256');
      expect((await grid(['frobnicate'], dir)).code).toBe(2);
    } finally {
      await server.close();
    }
  });

  it('shows progress in the live region on a terminal, then only the lines printed above it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-grid-'));
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'b.bin'), Buffer.alloc(300_000, 7));
    const server = await serveDirectory(join(dir, 'data'));
    try {
      writeFileSync(join(dir, 'list.txt'), `${server.fileUrl('b.bin')}\n`);
      const result = await grid(['download', 'list.txt', '--dest', 'out'], dir, true);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^1 files, .* to fetch$/m);
      expect(result.stdout).toMatch(/ok {5}b\.bin \(300 kB, /);
      expect(result.stdout).toMatch(/done: 1 files, 300 kB in \d/);
    } finally {
      await server.close();
    }
  });

  it('returns 1 when a file fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-grid-'));
    writeFileSync(join(dir, 'list.txt'), 'http://127.0.0.1:1/nothing\n');
    const result = await grid(['download', 'list.txt', '--dest', 'out'], dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/GRID_CONNECT_FAILED/);
  });

  it('reads --limit-rate as curl does', () => {
    expect(parseRate('500')).toBe(500);
    expect(parseRate('500k')).toBe(512_000);
    expect(parseRate('2M')).toBe(2 * 1024 ** 2);
    expect(() => parseRate('fast')).toThrow(/curl --limit-rate/);
    expect(() => parseRate('0')).toThrow();
  });
});
