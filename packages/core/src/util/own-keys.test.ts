import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.js';
import { ownValue, reservedKeyPaths, setOwn } from './own-keys.js';

describe('own keys', () => {
  it('reads own properties only: prototype members are no values', () => {
    const record: Record<string, number> = { toString: 1 };
    expect(ownValue(record, 'toString')).toBe(1);
    expect(ownValue(record, 'constructor')).toBeUndefined();
    expect(ownValue(record, 'hasOwnProperty')).toBeUndefined();
    expect(ownValue(record, '__proto__')).toBeUndefined();
  });

  it('writes __proto__ as data, leaving the prototype alone', () => {
    const record: Record<string, unknown> = {};
    setOwn(record, '__proto__', { polluted: true });
    setOwn(record, 'constructor', 'c');
    expect(Object.getPrototypeOf(record)).toBe(Object.prototype);
    expect(Object.keys(record)).toEqual(['__proto__', 'constructor']);
    expect(ownValue(record, '__proto__')).toEqual({ polluted: true });
    expect(JSON.stringify(record)).toBe('{"__proto__":{"polluted":true},"constructor":"c"}');
  });

  it('finds every __proto__ key in a tree, with its path; stops at cycles', () => {
    const tree = JSON.parse('{"a": [{"__proto__": 1}], "__proto__": {"b": {"__proto__": 2}}}') as Record<
      string,
      unknown
    >;
    tree.self = tree;
    expect(reservedKeyPaths(tree)).toEqual([
      ['a', 0, '__proto__'],
      ['__proto__'],
      ['__proto__', 'b', '__proto__'],
    ]);
    expect(reservedKeyPaths({ constructor: { toString: [] } })).toEqual([]);
  });

  it('canonical JSON keeps a __proto__ key (two different values never share a text)', () => {
    const withKey = JSON.parse('{"b": 1, "__proto__": {"x": 1}}') as unknown;
    expect(canonicalJson(withKey)).toBe('{"__proto__":{"x":1},"b":1}');
    expect(canonicalJson(withKey)).not.toBe(canonicalJson({ b: 1 }));
  });
});
