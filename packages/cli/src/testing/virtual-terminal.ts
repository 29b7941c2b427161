import { Writable } from 'node:stream';
import { Unicode11Addon } from '@xterm/addon-unicode11';
import xterm from '@xterm/headless';

/**
 * A terminal for tests: what the program writes goes through a real terminal emulator (xterm.js), so a
 * test can read the screen a person would see: rows that wrapped, or a redraw that missed a row, leave
 * their traces there as they would in a real terminal.
 */
export class VirtualTerminal extends Writable {
  readonly isTTY = true;
  private readonly terminal: xterm.Terminal;

  constructor(
    readonly columns: number,
    readonly rows: number,
  ) {
    super();
    // convertEol: a terminal's line discipline turns "\n" into "\r\n" (stty onlcr); xterm.js alone does not.
    this.terminal = new xterm.Terminal({
      cols: columns,
      rows,
      allowProposedApi: true,
      scrollback: 1000,
      convertEol: true,
    });
    // Character widths of current terminals (an emoji takes two columns), as string-width has them.
    this.terminal.loadAddon(new Unicode11Addon());
    this.terminal.unicode.activeVersion = '11';
  }

  override _write(
    chunk: Buffer | string,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    this.terminal.write(typeof chunk === 'string' ? chunk : new Uint8Array(chunk), () => callback());
  }

  /** Waits until everything written so far is on the screen. */
  async settled(): Promise<void> {
    await new Promise<void>((resolve) => this.write('', () => resolve()));
    await new Promise<void>((resolve) => this.terminal.write('', resolve));
  }

  /** Every row from the top of the scrollback to the cursor's row, right-trimmed; empty rows at the end dropped. */
  lines(): string[] {
    const buffer = this.terminal.buffer.active;
    const lines: string[] = [];
    for (let row = 0; row < buffer.length; row++)
      lines.push(buffer.getLine(row)?.translateToString(true) ?? '');
    while (lines.length > 0 && lines.at(-1) === '') lines.pop();
    return lines;
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.terminal.dispose();
    callback(error);
  }
}
