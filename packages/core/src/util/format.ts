/**
 * How Beamline prints sizes and durations for people: one implementation, so the CLI, the plugins and
 * the error messages all read alike.
 */

/** Human duration: `850ms`, `4.2s`, `3m 07s`, `1h 02m`; `-` for a negative or non-finite value. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  // Below a minute one decimal tells a 1.2 s step from a 1.9 s one; 59.96 s must not print as "60.0s".
  if (ms < 59_950) return `${(ms / 1000).toFixed(1)}s`;
  const totalSeconds = Math.round(ms / 1000);
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  return hours > 0
    ? `${hours}h ${String(minutes).padStart(2, '0')}m`
    : `${minutes}m ${String(seconds).padStart(2, '0')}s`;
}

const BYTE_UNITS = ['kB', 'MB', 'GB', 'TB', 'PB'];

/**
 * Human size in decimal (SI) units, as `ls -h --si` and `df -H` print them: `512 B`, `2.0 kB`, `35 MB`,
 * `1.1 GB`; `-` for a negative or non-finite value.
 */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '-';
  if (bytes < 1000) return `${Math.round(bytes)} B`;
  let value = bytes;
  let unit = 'B';
  for (const next of BYTE_UNITS) {
    // Round first, so 999,999 bytes reads "1.0 MB", not "1000 kB".
    if (roundForDisplay(value) < 1000) break;
    value /= 1000;
    unit = next;
  }
  return `${value < 9.95 ? value.toFixed(1) : String(Math.round(value))} ${unit}`;
}

function roundForDisplay(value: number): number {
  return value < 9.95 ? value : Math.round(value);
}
