import { stripVTControlCharacters } from 'node:util';
import stringWidth from 'string-width';

/**
 * Formatting helpers shared by every renderer and command. Sizes and durations come from core
 * (`formatBytes`, `formatDuration`), so every package prints them alike; widths are terminal columns
 * (`string-width`: a CJK character or an emoji takes two), never string lengths.
 */

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

/** Terminal columns a text takes (escape sequences take none, wide characters two). */
export function textWidth(text: string): number {
  return stringWidth(text);
}

/** Pads to a width in terminal columns. */
export function padVisible(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - stringWidth(text)));
}

// Tabs, carriage returns and other C0/C1 controls that survive `stripVTControlCharacters`.
// eslint-disable-next-line no-control-regex -- control characters are exactly what this pattern is about
const CONTROL = /[\u0000-\u001f\u007f-\u009f]+/g;

/**
 * Text from a step (a progress message, an error, a step id) made safe for one row of a status line:
 * its escape sequences removed and tabs, newlines and other control characters turned into a space.
 * The terminal would otherwise move the cursor or expand a tab, and the live region would miscount its
 * rows.
 */
export function oneLine(text: string): string {
  return stripVTControlCharacters(text).replace(CONTROL, ' ');
}

/** A path relative to `cwd` when it lies inside it, else as it is. */
export function displayPath(path: string, cwd: string): string {
  const prefix = cwd.endsWith('/') ? cwd : `${cwd}/`;
  return path.startsWith(prefix) ? path.slice(prefix.length) : path;
}
