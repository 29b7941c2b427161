import { describe, expect, it } from 'vitest';
import { isPostgresError } from '../errors/postgres-error.js';
import { labelsSatisfy, parseLabels, queueName, requirementOf } from './requirement.js';

describe('capability labels', () => {
  it('parses --labels text and lists, names with and without values', () => {
    const labels = parseLabels('gpu=a100, mem=64g,docker,,');
    expect([...labels]).toEqual([
      ['gpu', 'a100'],
      ['mem', '64g'],
      ['docker', undefined],
    ]);
    expect([...parseLabels(['a=1,b', 'c'])].map(([name]) => name)).toEqual(['a', 'b', 'c']);
  });

  it('refuses a label with spaces or two values, naming it', () => {
    for (const bad of ['two words', 'a=b=c', '=x', 'gpu=']) {
      let caught: unknown;
      try {
        parseLabels(bad);
      } catch (error) {
        caught = error;
      }
      expect(isPostgresError(caught, 'POSTGRES_CONFIG_INVALID'), bad).toBe(true);
      expect((caught as Error).message).toContain(JSON.stringify(bad.trim()));
    }
  });

  it('a name=value label needs the same value, a bare name any value', () => {
    const offered = parseLabels('gpu=a100,docker,mem=64g');
    expect(labelsSatisfy(offered, [])).toBe(true);
    expect(labelsSatisfy(offered, ['gpu=a100', 'docker'])).toBe(true);
    expect(labelsSatisfy(offered, ['gpu'])).toBe(true);
    expect(labelsSatisfy(offered, ['gpu=t4'])).toBe(false);
    expect(labelsSatisfy(offered, ['docker=yes'])).toBe(false);
    expect(labelsSatisfy(offered, ['infiniband'])).toBe(false);
    expect(labelsSatisfy(offered, ['bad label'])).toBe(false);
  });

  it('one queue per requirement: labels in any order share it, anything else does not', () => {
    const a = requirementOf('local', { labels: ['gpu=a100', 'docker', 'docker'], gpus: 1 });
    const b = requirementOf('local', { labels: ['docker', 'gpu=a100'], gpus: 1, cpus: 1, memoryMb: 0 });
    expect(a).toEqual(b);
    expect(queueName(a)).toBe(queueName(b));
    expect(queueName(a)).toMatch(/^beamline-steps-[0-9a-f]{20}$/);
    expect(queueName(requirementOf('docker', { labels: ['docker', 'gpu=a100'], gpus: 1 }))).not.toBe(
      queueName(a),
    );
    expect(queueName(requirementOf('local', { labels: ['docker', 'gpu=a100'], gpus: 2 }))).not.toBe(
      queueName(a),
    );
    expect(requirementOf('local', undefined)).toEqual({
      runner: 'local',
      labels: [],
      cpus: 1,
      memoryMb: 0,
      gpus: 0,
      gpuOptional: false,
    });
  });
});
