import { InvalidArgumentError } from '@commander-js/extra-typings';

/**
 * Option-value parsers for commander's `argParser`: a value that does not parse is a usage error
 * (`beamline runs: option '-n, --limit <n>' argument 'zero' is invalid. expected …`, exit 2).
 */

/** A whole number ≥ 1. */
export function positiveInteger(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 1) {
    throw new InvalidArgumentError('expected a positive whole number.');
  }
  return n;
}

/** A whole number ≥ 0. */
export function nonNegativeInteger(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0) {
    throw new InvalidArgumentError('expected a whole number ≥ 0.');
  }
  return n;
}

/** A repeatable option: each occurrence adds its value. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** A repeatable option whose values come from a fixed list. */
export function collectChoice<const T extends string>(
  choices: readonly T[],
): (value: string, previous: T[] | undefined) => T[] {
  return (value, previous) => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`expected one of ${choices.join(', ')}.`);
    }
    return [...(previous ?? []), value as T];
  };
}

/** A `KEY=VALUE` pair (repeatable), collected into a record; later keys win. */
export function collectPair(
  value: string,
  previous: Record<string, string> | undefined,
): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('expected KEY=VALUE.');
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}
