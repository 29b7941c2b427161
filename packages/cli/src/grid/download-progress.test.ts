import type { GridEvent } from '@beamline/plugin-grid';
import { describe, expect, it } from 'vitest';
import { textWidth } from '../render/format.js';
import { VirtualTerminal } from '../testing/virtual-terminal.js';
import { DownloadProgress } from './download-progress.js';

const NAMES = ['数据-第一部分-很长的文件名.root', '🚀-events-run-2024.root', 'AO2D\t0001.root'];

function progress(name: string, bytes: number): GridEvent {
  return {
    type: 'progress',
    name,
    bytes,
    size: 4_000_000,
    rate: 1_500_000,
    totalBytes: bytes,
    totalSize: 12_000_000,
    totalRate: 4_500_000,
    eta: 125,
  };
}

describe('DownloadProgress', () => {
  it('draws one row per active file and a total in the live region, never wider than the terminal', async () => {
    const terminal = new VirtualTerminal(40, 20);
    let now = 0;
    const bars = new DownloadProgress(terminal, () => now);
    bars.update({ type: 'plan', files: [], totalBytes: 12_000_000, fetchBytes: 12_000_000, dryRun: false });
    for (const name of NAMES)
      bars.update({ type: 'file-start', name, url: `https://se/${name}`, path: `/d/${name}` });
    for (const [index, name] of NAMES.entries()) {
      now += 1000;
      bars.update(progress(name, 1_000_000 * (index + 1)));
    }
    await terminal.settled();
    const screen = terminal.lines();
    expect(screen[0]).toBe('0 files, 12 MB, 12 MB to fetch');
    // The plan line, one row per file, the total: nothing wrapped, nothing left of earlier frames.
    expect(screen).toHaveLength(1 + NAMES.length + 1);
    for (const row of screen) expect(textWidth(row)).toBeLessThanOrEqual(39);
    expect(screen.at(-1)).toMatch(/^\[#{6}\.{18}\] total 3\.0 .*…$/);
  });

  it('prints finished files above the bars and leaves only those lines when done', async () => {
    const terminal = new VirtualTerminal(60, 20);
    let now = 0;
    const bars = new DownloadProgress(terminal, () => now);
    bars.update({ type: 'file-start', name: 'a.root', url: 'https://se/a.root', path: '/d/a.root' });
    now += 1000;
    bars.update(progress('a.root', 2_000_000));
    bars.update({
      type: 'file-done',
      file: { name: 'a.root', path: '/d/a.root', size: 4_000_000, checksums: {}, source: 'network' },
    });
    bars.update({ type: 'done', files: [], transferred: 4_000_000, totalSize: 4_000_000, durationMs: 2_500 });
    bars.finish();
    await terminal.settled();
    expect(terminal.lines()).toEqual(['ok     a.root (4.0 MB, network)', 'done: 0 files, 4.0 MB in 2.5s']);
  });
});
