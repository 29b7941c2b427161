import { describe, expect, it } from 'vitest';
import type { CacheKeyParts } from '../contracts/events.js';
import { cacheKey, diffKeyParts, inputDigests } from './cache-key.js';

const parts: CacheKeyParts = {
  command: 'exec',
  commandVersion: '1',
  params: '{"command":"train","epochs":40}',
  inputs: { 'prepare/train': 'aa', 'prepare/test': 'bb' },
  runner: 'local:host:linux-x64',
};

describe('cache keys', () => {
  it('hash the canonical form: key order does not matter, any value does', () => {
    const reordered = {
      runner: parts.runner,
      inputs: { 'prepare/test': 'bb', 'prepare/train': 'aa' },
      params: parts.params,
      commandVersion: '1',
      command: 'exec',
    };
    expect(cacheKey(reordered)).toBe(cacheKey(parts));
    expect(cacheKey({ ...parts, commandVersion: '2' })).not.toBe(cacheKey(parts));
  });

  it('name exactly what changed, down to the parameter and input', () => {
    const after = {
      ...parts,
      params: '{"command":"train","epochs":80}',
      inputs: { ...parts.inputs, 'prepare/test': 'cc' },
    };
    expect(diffKeyParts(parts, after)).toEqual([
      { part: 'params', before: { epochs: 40 }, after: { epochs: 80 } },
      { part: 'inputs', before: { 'prepare/test': 'bb' }, after: { 'prepare/test': 'cc' } },
    ]);
    expect(diffKeyParts(parts, { ...parts, runner: 'sha256:abc' })).toEqual([
      { part: 'runner', before: 'local:host:linux-x64', after: 'sha256:abc' },
    ]);
    expect(diffKeyParts(parts, parts)).toEqual([]);
  });

  it('address inputs by producing step and artifact name', () => {
    const artifact = (name: string, sha256: string) => ({ name, sha256, path: `/x/${name}`, size: 1 });
    expect(
      inputDigests([
        ['prepare[d=a]', [artifact('train', 'aa')]],
        ['fetch', []],
      ]),
    ).toEqual({ 'prepare[d=a]/train': 'aa' });
  });
});
