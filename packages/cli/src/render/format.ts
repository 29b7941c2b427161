/** Small, dependency-free formatting helpers shared by every renderer and command. */

/** Human duration: `850ms`, `4.2s`, `3m 07s`, `1h 02m`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const totalSeconds = Math.floor(ms / 1000);
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  return hours > 0
    ? `${hours}h ${String(minutes).padStart(2, '0')}m`
    : `${minutes}m ${String(seconds).padStart(2, '0')}s`;
}

/** Human size in decimal units (`512 B`, `1.2 kB`, `3.4 MB`), as `ls -h --si` prints them. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '-';
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 'B';
  for (const next of units) {
    if (value < 1000) break;
    value /= 1000;
    unit = next;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${unit}`;
}

/** A metric value short enough for a status line: 4 significant digits, integers as they are. */
export function formatNumber(value: number): string {
  if (Number.isInteger(value)) return String(value);
  if (!Number.isFinite(value)) return String(value);
  return String(Number(value.toPrecision(4)));
}

/** `name=value` pairs in insertion order. */
export function formatMetrics(
  metrics: ReadonlyMap<string, number> | Readonly<Record<string, number>>,
): string {
  const entries: [string, number][] = isMap(metrics) ? [...metrics.entries()] : Object.entries(metrics);
  return entries.map(([name, value]) => `${name}=${formatNumber(value)}`).join(' ');
}

function isMap(value: object): value is ReadonlyMap<string, number> {
  return value instanceof Map;
}

/** A fixed-width bar: `█████░░░░░`. */
export function progressBar(current: number, total: number, width = 20): string {
  const ratio = total > 0 ? Math.min(1, Math.max(0, current / total)) : 0;
  const filled = Math.round(ratio * width);
  return '█'.repeat(filled) + '░'.repeat(width - filled);
}

/** ANSI styling that collapses to plain text when colour is off. */
export interface Style {
  readonly enabled: boolean;
  green(text: string): string;
  red(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

/** Styles for a stream: colour only on a terminal, and never when `NO_COLOR` is set (no-color.org). */
export function createStyle(enabled: boolean): Style {
  const wrap =
    (open: number, close: number) =>
    (text: string): string =>
      enabled ? `\x1b[${open}m${text}\x1b[${close}m` : text;
  return {
    enabled,
    green: wrap(32, 39),
    red: wrap(31, 39),
    yellow: wrap(33, 39),
    cyan: wrap(36, 39),
    dim: wrap(2, 22),
    bold: wrap(1, 22),
  };
}

/** Whether to colour a stream. */
export function colourEnabled(isTTY: boolean | undefined, env: NodeJS.ProcessEnv): boolean {
  return isTTY === true && env.NO_COLOR === undefined && env.TERM !== 'dumb';
}

// Matches CSI sequences (colours, cursor movement), the only escapes the renderers write.
// eslint-disable-next-line no-control-regex -- ESC is exactly what this pattern is about
const ANSI_PATTERN = /\x1b\[[0-9;]*[A-Za-z]/y;
// eslint-disable-next-line no-control-regex -- as above
const ANSI_GLOBAL = /\x1b\[[0-9;]*[A-Za-z]/g;

/**
 * Cuts a line to `width` visible characters, keeping ANSI sequences intact. A live region must never
 * wrap: the cursor-up count that redraws it assumes one terminal row per line.
 */
export function truncateVisible(line: string, width: number): string {
  if (width <= 0) return '';
  let visible = 0;
  let out = '';
  let index = 0;
  let hasEscapes = false;
  while (index < line.length) {
    ANSI_PATTERN.lastIndex = index;
    const escape = ANSI_PATTERN.exec(line);
    if (escape) {
      out += escape[0];
      index += escape[0].length;
      hasEscapes = true;
      continue;
    }
    const codePoint = line.codePointAt(index) ?? 0;
    const char = String.fromCodePoint(codePoint);
    if (visible === width) return hasEscapes ? `${out}\x1b[0m` : out;
    if (
      visible === width - 1 &&
      index + char.length < line.length &&
      hasMoreVisible(line, index + char.length)
    ) {
      return hasEscapes ? `${out}…\x1b[0m` : `${out}…`;
    }
    out += char;
    visible += 1;
    index += char.length;
  }
  return out;
}

function hasMoreVisible(line: string, from: number): boolean {
  let index = from;
  while (index < line.length) {
    ANSI_PATTERN.lastIndex = index;
    const escape = ANSI_PATTERN.exec(line);
    if (!escape) return true;
    index += escape[0].length;
  }
  return false;
}

/** Visible length of a line (ANSI sequences excluded). */
export function visibleLength(line: string): number {
  return [...line.replace(ANSI_GLOBAL, '')].length;
}

/** Pads to a visible width. */
export function padVisible(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - visibleLength(text)));
}

/** A path relative to `cwd` when it lies inside it, else as it is. */
export function displayPath(path: string, cwd: string): string {
  const prefix = cwd.endsWith('/') ? cwd : `${cwd}/`;
  return path.startsWith(prefix) ? path.slice(prefix.length) : path;
}
