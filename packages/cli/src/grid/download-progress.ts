import { formatBytes, formatDuration } from '@beamline/core';
import type { GridEvent } from '@beamline/plugin-grid';
import { oneLine } from '../render/format.js';
import { LiveRegion, type TerminalStream } from '../render/live-region.js';

const BAR_WIDTH = 24;

/** Shortest time between two redraws of the bars (progress events come many times a second). */
const REDRAW_MS = 200;

function bar(done: number, total: number | undefined): string {
  if (!total) return `[${' '.repeat(BAR_WIDTH)}]`;
  const filled = Math.min(BAR_WIDTH, Math.round((done / total) * BAR_WIDTH));
  return `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]`;
}

interface ActiveFile {
  bytes: number;
  size: number | undefined;
  rate: number;
}

/**
 * The terminal view of a download: a bar per active file and a total, redrawn in place in the
 * program's live region, with notable events (done, failed, retries, replica switches) printed above
 * it. Only used when stdout is a terminal; pipes get plain lines.
 */
export class DownloadProgress {
  private readonly region: LiveRegion;
  private readonly active = new Map<string, ActiveFile>();
  private total = { bytes: 0, size: 0, rate: 0, eta: undefined as number | undefined };
  private lastDraw = 0;

  constructor(
    out: TerminalStream,
    private readonly now: () => number = Date.now,
  ) {
    this.region = new LiveRegion(out);
  }

  update(event: GridEvent): void {
    switch (event.type) {
      case 'plan':
        this.total.size = event.totalBytes;
        this.print(
          `${event.files.length} files, ${formatBytes(event.totalBytes)}, ${formatBytes(event.fetchBytes)} to fetch${event.dryRun ? ' (dry run)' : ''}`,
        );
        if (event.dryRun) {
          for (const file of event.files) {
            this.print(`  ${file.action.padEnd(8)} ${file.name} -> ${file.path} ${file.replicas[0] ?? ''}`);
          }
        }
        return;
      case 'file-start':
        this.active.set(event.name, { bytes: 0, size: undefined, rate: 0 });
        break;
      case 'progress':
        this.active.set(event.name, { bytes: event.bytes, size: event.size, rate: event.rate });
        this.total = {
          bytes: event.totalBytes,
          size: event.totalSize,
          rate: event.totalRate,
          eta: event.eta,
        };
        break;
      case 'file-done':
        this.active.delete(event.file.name);
        this.print(`ok     ${event.file.name} (${formatBytes(event.file.size)}, ${event.file.source})`);
        return;
      case 'file-failed':
        this.active.delete(event.name);
        this.print(`FAILED ${event.name}: ${event.error.code}: ${event.error.message}`);
        return;
      case 'replica-switch':
        this.print(`switch ${event.name}: ${event.error.code}${event.to ? ` -> ${event.to}` : ''}`);
        return;
      case 'retry':
        this.print(`retry  ${event.name}: ${event.error.code} (in ${formatDuration(event.delayMs)})`);
        return;
      case 'resume':
      case 'log':
        this.print(`note   ${event.message}`);
        return;
      case 'done':
        this.print(
          `done: ${event.files.length} files, ${formatBytes(event.transferred)} in ${formatDuration(event.durationMs)}`,
        );
        return;
    }
    if (this.now() - this.lastDraw >= REDRAW_MS) this.draw();
  }

  /** Removes the bars (the lines printed above them stay). */
  finish(): void {
    this.region.render([]);
    this.region.done();
  }

  /** The bars as they would be drawn now. */
  rows(): string[] {
    const rows = [...this.active.entries()].map(
      ([name, file]) =>
        `${bar(file.bytes, file.size)} ${formatBytes(file.bytes).padStart(7)}/${file.size === undefined ? '?' : formatBytes(file.size)} ${formatBytes(file.rate)}/s ${oneLine(name)}`,
    );
    if (this.active.size > 0) {
      const eta = this.total.eta === undefined ? '' : ` ETA ${formatDuration(this.total.eta * 1000)}`;
      rows.push(
        `${bar(this.total.bytes, this.total.size)} total ${formatBytes(this.total.bytes)}/${formatBytes(this.total.size)} ${formatBytes(this.total.rate)}/s${eta}`,
      );
    }
    return rows;
  }

  private print(line: string): void {
    // File names and server messages come from outside: no escape sequence of theirs reaches the terminal.
    this.region.print(oneLine(line));
    this.draw();
  }

  private draw(): void {
    this.region.render(this.rows());
    this.lastDraw = this.now();
  }
}
