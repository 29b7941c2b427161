import type { Writable } from 'node:stream';
import cliTruncate from 'cli-truncate';
import { createLogUpdate } from 'log-update';
import stringWidth from 'string-width';

/** A terminal stream: `columns` and `rows` are set by Node on a TTY. */
export type TerminalStream = Writable & { isTTY?: boolean; columns?: number; rows?: number };

/**
 * The one live terminal area of the program (a run's step lines, a download's progress bars): a block
 * of rows redrawn in place by `log-update`, with lines printed above it that stay in the scrollback.
 *
 * Every row is cut to the terminal width in columns (`cli-truncate`, which counts a CJK character or an
 * emoji as two), one short of the edge: a row that wrapped would make the redraw miscount the rows it
 * has to move back over. Callers pass text without control characters (see `oneLine`).
 */
export class LiveRegion {
  private readonly update: ReturnType<typeof createLogUpdate>;

  constructor(private readonly out: TerminalStream) {
    // The cursor stays visible: hiding it is process-wide state that a crash would leave behind. The
    // callers fit the region to the terminal's height themselves (they know which rows matter).
    this.update = createLogUpdate(out, { showCursor: true, defaultHeight: Number.POSITIVE_INFINITY });
  }

  /** Columns a row may take. */
  get width(): number {
    return Math.max(20, (this.out.columns ?? 80) - 1);
  }

  /** Rows of the terminal, when known. */
  get height(): number | undefined {
    const rows = this.out.rows;
    return rows === undefined || rows <= 0 ? undefined : rows;
  }

  /** Replaces the region with these rows. */
  render(rows: readonly string[]): void {
    if (rows.length === 0) return this.update.clear();
    const width = this.width;
    this.update(rows.map((row) => fitRow(row, width)).join('\n'));
  }

  /**
   * Writes text above the region, as it is (long lines are left to the terminal to wrap, so a printed
   * path or command still copies whole); the region is drawn again by the next `render`.
   */
  print(text: string): void {
    this.update.clear();
    this.out.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** Leaves the last rows on screen; later output goes below them. */
  done(): void {
    this.update.done();
  }
}

/**
 * A row cut to `width` columns with an ellipsis. cli-truncate can keep a wide character that straddles
 * the edge (one column too many), so a cut that is still too wide is made one column shorter.
 */
export function fitRow(row: string, width: number): string {
  let cut = cliTruncate(row, width);
  for (let shorter = width - 1; stringWidth(cut) > width && shorter > 0; shorter--)
    cut = cliTruncate(row, shorter);
  return cut;
}
