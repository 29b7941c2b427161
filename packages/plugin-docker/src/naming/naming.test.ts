import { describe, expect, it } from 'vitest';
import { isDockerError } from '../errors/docker-error.js';
import { checkContainerName, containerName } from './container-name.js';
import { buildTags, parseImageRef } from './image-ref.js';
import { isOwnedBy, ownerFilter } from './labels.js';

describe('container names', () => {
  it('builds <project>-<step>-<short id> within Docker’s name rule', () => {
    expect(containerName('PETRIC 2', 'recon/step #1', 'a1b2c3d4-e5f6-7890-abcd-ef0123456789')).toBe(
      'PETRIC-2-recon-step-1-a1b2c3d4e5f6',
    );
    expect(containerName('-x', '..', 'ffffffffffffffff')).toBe('x-job-ffffffffffff');
    expect(
      isDockerError(
        (() => {
          try {
            checkContainerName('/bad name');
          } catch (e) {
            return e;
          }
        })(),
        'DOCKER_SPEC_INVALID',
      ),
    ).toBe(true);
  });
});

describe('image references and tags', () => {
  it.each(['busybox', 'ghcr.io/a/b', 'a/b:latest', 'localhost:5000/a'])(
    'refuses %s (untagged or latest)',
    (ref) => {
      expect(() => parseImageRef(ref)).toThrow(
        expect.objectContaining({ code: 'DOCKER_IMAGE_REF_INVALID' }) as Error,
      );
    },
  );
  it('accepts tags, digests and image IDs', () => {
    expect(parseImageRef('localhost:5000/a/b:1.0')).toEqual({ repository: 'localhost:5000/a/b', tag: '1.0' });
    expect(parseImageRef(`a@sha256:${'a'.repeat(64)}`)).toMatchObject({
      repository: 'a',
      digest: `sha256:${'a'.repeat(64)}`,
    });
    expect(parseImageRef(`sha256:${'b'.repeat(64)}`)).toMatchObject({ id: `sha256:${'b'.repeat(64)}` });
  });
  it('tags builds with a version and a date, never latest', () => {
    expect(buildTags('lab/recon', '0.1.0', new Date('2025-03-04T10:00:00Z'))).toEqual([
      'lab/recon:0.1.0',
      'lab/recon:2025-03-04',
    ]);
    expect(() => buildTags('lab/recon', 'latest')).toThrow();
  });
});

describe('label filters', () => {
  const own = { namespace: 'io.beamline', project: 'p', owner: '1000' };
  it('always filters by managed, project and owner', () => {
    expect(ownerFilter(own)).toEqual([
      'io.beamline.managed=true',
      'io.beamline.project=p',
      'io.beamline.owner=1000',
    ]);
  });
  it('double-checks ownership on the labels themselves', () => {
    expect(
      isOwnedBy(
        { 'io.beamline.managed': 'true', 'io.beamline.project': 'p', 'io.beamline.owner': '1000' },
        own,
      ),
    ).toBe(true);
    expect(
      isOwnedBy(
        { 'io.beamline.managed': 'true', 'io.beamline.project': 'p', 'io.beamline.owner': '1001' },
        own,
      ),
    ).toBe(false);
    expect(isOwnedBy(undefined, own)).toBe(false);
  });
});
