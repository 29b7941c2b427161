import type { ParamDefinition } from '../contracts/pipeline.js';
import { isPlainObject } from './expressions.js';

/** The outcome of fitting a value to a declared param type. */
export type CoercionResult = { ok: true; value: unknown } | { ok: false; expected: string };

const EXPECTED: Record<NonNullable<ParamDefinition['type']>, string> = {
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
  array: 'a list (JSON array such as ["a","b"])',
  object: 'an object (JSON object such as {"k":1})',
};

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Fits a value to a declared param type. Strings (from the command line or a YAML default) are converted:
 * numbers parsed, `true`/`false` read as booleans, JSON read for arrays and objects. Undeclared types accept anything.
 */
export function coerceParamValue(type: ParamDefinition['type'], value: unknown): CoercionResult {
  const fail: CoercionResult = { ok: false, expected: type === undefined ? '' : EXPECTED[type] };
  switch (type) {
    case undefined:
      return { ok: true, value };
    case 'string':
      if (typeof value === 'string') return { ok: true, value };
      return typeof value === 'number' || typeof value === 'boolean'
        ? { ok: true, value: String(value) }
        : fail;
    case 'number': {
      if (typeof value === 'number') return Number.isFinite(value) ? { ok: true, value } : fail;
      const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
      return Number.isFinite(number) ? { ok: true, value: number } : fail;
    }
    case 'boolean': {
      if (typeof value === 'boolean') return { ok: true, value };
      const text = typeof value === 'string' ? value.trim().toLowerCase() : '';
      return text === 'true' || text === 'false' ? { ok: true, value: text === 'true' } : fail;
    }
    case 'array': {
      const parsed = typeof value === 'string' ? parseJson(value) : value;
      return Array.isArray(parsed) ? { ok: true, value: parsed } : fail;
    }
    case 'object': {
      const parsed = typeof value === 'string' ? parseJson(value) : value;
      return isPlainObject(parsed) ? { ok: true, value: parsed } : fail;
    }
  }
}
