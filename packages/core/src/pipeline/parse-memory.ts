// Decimal and binary spellings mean the same here, as in Docker's `--memory 4g`: sizes are MiB-based.
const UNIT_MIB: Record<string, number> = { k: 1 / 1024, m: 1, g: 1024, t: 1024 * 1024 };
const MEMORY = /^(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b)?)?$/i;

/** What a memory size must look like, for error messages. */
export const MEMORY_EXPECTED = 'a memory size like "512m", "4g", "4GiB" or a number of MiB ≥ 0';

/**
 * MiB of a memory size: `'512m'`, `'4g'`, `'4GiB'`, `'1.5g'`, or a bare number of MiB (`512` or `'512'`).
 * The one memory-size parser of Beamline: bare numbers are always MiB (a flag that follows another
 * tool's unit converts before calling it). Rounded up to a whole MiB so that a request is never smaller
 * than written. Undefined when the value is not a size.
 */
export function parseMemory(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.ceil(value) : undefined;
  if (typeof value !== 'string') return undefined;
  const match = MEMORY.exec(value.trim());
  const unit = UNIT_MIB[match?.[2]?.toLowerCase() ?? 'm'];
  if (!match || unit === undefined) return undefined;
  return Math.ceil(Number(match[1]) * unit);
}
