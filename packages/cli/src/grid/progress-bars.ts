import type { Writable } from 'node:stream';
import type { GridEvent } from '@beamline/plugin-grid';

const WIDTH = 24;

function human(n: number): string {
  const units = ['B', 'K', 'M', 'G', 'T'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)}${units[i]}`;
}

function bar(done: number, total: number | undefined): string {
  if (!total) return `[${' '.repeat(WIDTH)}]`;
  const filled = Math.min(WIDTH, Math.round((done / total) * WIDTH));
  return `[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}]`;
}

/**
 * Terminal bars: one line per active file plus a total line, redrawn in place (cursor up + clear),
 * with notable events printed above them. Only used when stdout is a TTY.
 */
export class ProgressBars {
  private readonly active = new Map<string, { bytes: number; size: number | undefined; rate: number }>();
  private total = { bytes: 0, size: 0, rate: 0, eta: undefined as number | undefined };
  private drawn = 0;
  private lastDraw = 0;

  constructor(private readonly out: Writable & { columns?: number }) {}

  update(e: GridEvent): void {
    switch (e.type) {
      case 'plan':
        this.total.size = e.totalBytes;
        this.print(
          `${e.files.length} files, ${human(e.totalBytes)}, ${human(e.fetchBytes)} to fetch${e.dryRun ? ' (dry run)' : ''}`,
        );
        if (e.dryRun)
          for (const f of e.files)
            this.print(`  ${f.action.padEnd(8)} ${f.name} -> ${f.path} ${f.replicas[0] ?? ''}`);
        return;
      case 'file-start':
        this.active.set(e.name, { bytes: 0, size: undefined, rate: 0 });
        break;
      case 'progress':
        this.active.set(e.name, { bytes: e.bytes, size: e.size, rate: e.rate });
        this.total = { bytes: e.totalBytes, size: e.totalSize, rate: e.totalRate, eta: e.eta };
        break;
      case 'file-done':
        this.active.delete(e.file.name);
        this.print(`ok     ${e.file.name} (${human(e.file.size)}, ${e.file.source})`);
        return;
      case 'file-failed':
        this.active.delete(e.name);
        this.print(`FAILED ${e.name}: ${e.error.code}: ${e.error.message}`);
        return;
      case 'replica-switch':
        this.print(`switch ${e.name}: ${e.error.code}${e.to ? ` -> ${e.to}` : ''}`);
        return;
      case 'retry':
        this.print(`retry  ${e.name}: ${e.error.code} (in ${(e.delayMs / 1000).toFixed(1)} s)`);
        return;
      case 'resume':
      case 'log':
        this.print(`note   ${e.message}`);
        return;
      case 'done':
        this.print(
          `done: ${e.files.length} files, ${human(e.transferred)} in ${(e.durationMs / 1000).toFixed(1)} s`,
        );
        return;
    }
    const now = Date.now();
    if (now - this.lastDraw >= 200) this.draw();
  }

  finish(): void {
    this.clear();
  }

  private print(line: string): void {
    this.clear();
    this.out.write(`${this.fit(line)}\n`);
    this.draw();
  }

  private fit(line: string): string {
    const cols = this.out.columns ?? 100;
    return line.length > cols - 1 ? `${line.slice(0, cols - 2)}…` : line;
  }

  private clear(): void {
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}A\x1b[0J`);
    this.drawn = 0;
  }

  private draw(): void {
    this.clear();
    const lines = [...this.active.entries()].map(
      ([name, a]) =>
        `${bar(a.bytes, a.size)} ${human(a.bytes).padStart(7)}/${a.size === undefined ? '?' : human(a.size)} ${human(a.rate)}/s ${name}`,
    );
    if (this.active.size > 0) {
      const eta = this.total.eta === undefined ? '' : ` ETA ${Math.ceil(this.total.eta)} s`;
      lines.push(
        `${bar(this.total.bytes, this.total.size)} total ${human(this.total.bytes)}/${human(this.total.size)} ${human(this.total.rate)}/s${eta}`,
      );
    }
    for (const l of lines) this.out.write(`${this.fit(l)}\n`);
    this.drawn = lines.length;
    this.lastDraw = Date.now();
  }
}
