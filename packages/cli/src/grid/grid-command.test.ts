import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { serveDirectory } from '@beamline/plugin-grid/testing';
import { describe, expect, it } from 'vitest';
import type { CliIO } from '../cli-command.js';
import { gridCommand } from './grid-command.js';

function io(
  cwd: string,
  signal = new AbortController().signal,
): CliIO & { out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let o = '';
  let e = '';
  stdout.on('data', (d: Buffer) => (o += d.toString()));
  stderr.on('data', (d: Buffer) => (e += d.toString()));
  return { stdout, stderr, cwd, env: {}, signal, out: () => o, err: () => e };
}

describe('beamline grid download', () => {
  it('downloads a list, prints a dry-run plan, and rejects bad input with 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-grid-'));
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'a.txt'), 'hello grid');
    const server = await serveDirectory(join(dir, 'data'));
    try {
      writeFileSync(join(dir, 'list.txt'), `${server.fileUrl('a.txt')}\n`);
      const dry = io(dir);
      expect(await gridCommand.run(['download', 'list.txt', '--dest', 'out', '--dry-run'], dry)).toBe(0);
      expect(dry.out()).toMatch(/download +a\.txt -> .*out\/a\.txt/);

      const real = io(dir);
      expect(
        await gridCommand.run(['download', 'list.txt', '--dest', 'out', '--json', '--parallel', '2'], real),
      ).toBe(0);
      expect(readFileSync(join(dir, 'out', 'a.txt'), 'utf8')).toBe('hello grid');
      expect(
        real
          .out()
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as { type: string }).type),
      ).toContain('file-done');

      const bad = io(dir);
      expect(await gridCommand.run(['download', 'list.txt', '--dest', 'out', '--parallel', '0'], bad)).toBe(
        2,
      );
      expect(bad.err()).toMatch(/--parallel must be a positive integer/);
      expect(await gridCommand.run(['download', 'missing.txt', '--dest', 'out'], io(dir))).toBe(2);
      expect(await gridCommand.run(['frobnicate'], io(dir))).toBe(2);
    } finally {
      await server.close();
    }
  });

  it('returns 1 when a file fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-grid-'));
    writeFileSync(join(dir, 'list.txt'), 'http://127.0.0.1:1/nothing\n');
    const x = io(dir);
    expect(await gridCommand.run(['download', 'list.txt', '--dest', 'out'], x)).toBe(1);
    expect(x.err()).toMatch(/GRID_CONNECT_FAILED/);
  });
});
