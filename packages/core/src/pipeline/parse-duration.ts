const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d)\s*)+$/;
const BARE_NUMBER = /^\d+(?:\.\d+)?$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/** What a duration must look like, for error messages. */
export const DURATION_EXPECTED = 'a duration like "90s", "5m", "2h", "1h30m" or a number of milliseconds > 0';

/**
 * Milliseconds of a duration: `'90s'`, `'5m'`, `'2h'`, `'1h30m'`, `'250ms'`, `'1d'`, or a bare number of
 * milliseconds (`1500` or `'1500'`). The one duration parser of Beamline: bare numbers are always
 * milliseconds. Undefined when the value is not a positive duration.
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (BARE_NUMBER.test(text)) return parseDuration(Number(text));
  if (!DURATION.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART)) total += Number(amount) * (UNIT_MS[unit ?? ''] ?? 0);
  return total > 0 ? Math.round(total) : undefined;
}
