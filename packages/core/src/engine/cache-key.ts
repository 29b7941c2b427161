import type { Artifact } from '../contracts/artifact.js';
import type { CacheKeyParts } from '../contracts/events.js';
import type { KeyChange } from '../contracts/runtime.js';
import { canonicalJson, sha256Hex } from '../util/canonical-json.js';
import { ownValue, setOwn } from '../util/own-keys.js';

/** The content address of a step: the hash of its key parts. */
export function cacheKey(parts: CacheKeyParts): string {
  return sha256Hex(canonicalJson(parts));
}

/** `<producing step>/<artifact name>` → digest, for the artifacts of the steps a step needs. */
export function inputDigests(
  artifactsByStep: ReadonlyArray<[string, readonly Artifact[]]>,
): Record<string, string> {
  const inputs: Record<string, string> = {};
  for (const [stepId, artifacts] of artifactsByStep) {
    for (const artifact of artifacts) inputs[`${stepId}/${artifact.name}`] = artifact.sha256;
  }
  return inputs;
}

const PARTS: ReadonlyArray<KeyChange['part']> = ['command', 'commandVersion', 'params', 'inputs', 'runner'];

/** Which parts of a key differ; `inputs` and `params` report only the entries that changed. */
export function diffKeyParts(before: CacheKeyParts, after: CacheKeyParts): KeyChange[] {
  const changes: KeyChange[] = [];
  for (const part of PARTS) {
    if (part === 'inputs') {
      const changed = diffRecords(before.inputs, after.inputs);
      if (changed !== undefined) changes.push({ part, ...changed });
    } else if (part === 'params') {
      const changed = diffRecords(parseObject(before.params), parseObject(after.params));
      if (changed !== undefined) changes.push({ part, ...changed });
    } else if (before[part] !== after[part]) {
      changes.push({ part, before: before[part], after: after[part] });
    }
  }
  return changes;
}

function parseObject(json: string): Record<string, unknown> {
  const value = JSON.parse(json) as unknown;
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : { value };
}

function diffRecords(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): { before: Record<string, unknown>; after: Record<string, unknown> } | undefined {
  const b: Record<string, unknown> = {};
  const a: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const was = ownValue(before, key);
    const is = ownValue(after, key);
    if (canonicalJson(was) !== canonicalJson(is)) {
      setOwn(b, key, was);
      setOwn(a, key, is);
    }
  }
  return Object.keys(a).length === 0 ? undefined : { before: b, after: a };
}
