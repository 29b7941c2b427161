import { describe, expect, it } from 'vitest';
import { isDockerError } from '../errors/docker-error.js';
import { builtinProfiles } from '../profiles/docker-profile.js';
import { settingsMismatches } from './assert-applied.js';
import { parseContainerSpec } from './container-spec.js';
import { createBody } from './create-body.js';
import { fromProcessSpec } from './from-process-spec.js';
import { resolveContainerSpec } from './resolve-spec.js';
import { ctx } from '../../test/fixtures/resolve-context.js';

const IMAGE = 'ghcr.io/lab/recon:1.2.0';

const thrown = (f: () => unknown): unknown => {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
};

describe('container spec validation', () => {
  it.each([['readOnlyRootFS'], ['Gpus'], ['MemoryLimit'], ['Readonly_Rootfs']])(
    'rejects the misspelled key %s',
    (key) => {
      const error = thrown(() => parseContainerSpec({ image: IMAGE, cmd: ['true'], [key]: true }));
      expect(isDockerError(error, 'DOCKER_SPEC_INVALID')).toBe(true);
      expect((error as Error).message).toContain(key);
    },
  );

  it('rejects relative mount paths, bad GPU ids and non-positive limits', () => {
    for (const bad of [
      { mounts: [{ source: 'rel', target: '/d' }] },
      { gpus: [] },
      { gpus: 2 },
      { memoryMb: 0 },
      { cpus: -1 },
    ]) {
      expect(
        isDockerError(
          thrown(() => parseContainerSpec({ image: IMAGE, ...bad })),
          'DOCKER_SPEC_INVALID',
        ),
      ).toBe(true);
    }
  });

  it('rejects unknown ProcessSpec fields and maps the known ones', () => {
    expect(
      isDockerError(
        thrown(() => fromProcessSpec({ argv: ['x'], image: IMAGE, shell: true } as never)),
        'DOCKER_SPEC_INVALID',
      ),
    ).toBe(true);
    const spec = fromProcessSpec({
      argv: ['python', 'train.py'],
      image: IMAGE,
      cwd: '/w',
      env: { A: '1' },
      resources: { cpus: 2, memoryMb: 8192, gpus: ['1', '3'] },
      network: 'none',
      name: 'train',
      labels: { 'beamline.run': 'run-9' },
      timeoutMs: 1000,
    });
    expect(spec).toMatchObject({
      cmd: ['python', 'train.py'],
      workdir: '/w',
      cpus: 2,
      memoryMb: 8192,
      gpus: ['1', '3'],
      step: 'train',
      run: 'run-9',
    });
  });

  it('accepts the description of the files a step reads and makes (core sends it to every runner)', () => {
    const spec = fromProcessSpec({
      argv: ['x'],
      image: IMAGE,
      files: {
        root: '/w',
        inputs: [{ path: '/w/a.txt', sha256: 'a'.repeat(64), size: 1 }],
        reads: { dir: '/w', patterns: ['data/*'] },
        outputs: { dir: '/w', patterns: ['out/*'] },
      },
    });
    expect(spec).toMatchObject({ cmd: ['x'], image: IMAGE });
  });

  it('needs an image', () => {
    expect(
      isDockerError(
        thrown(() => fromProcessSpec({ argv: ['x'] })),
        'DOCKER_SPEC_INVALID',
      ),
    ).toBe(true);
  });
});

describe('resolution and the create body', () => {
  it('turns granted GPU ids into explicit DeviceIDs, never a count', () => {
    const body = createBody(
      resolveContainerSpec(parseContainerSpec({ image: IMAGE, cmd: ['x'], gpus: ['1', '3'] }), ctx),
    );
    expect(body.HostConfig.DeviceRequests).toEqual([
      { Driver: 'nvidia', DeviceIDs: ['1', '3'], Capabilities: [['gpu']] },
    ]);
    expect(body.Labels['io.beamline.gpus']).toBe('1,3');
  });

  it('applies the TRE profile: mounts, no network, read-only root, 4 GB, invoking user with HOME=/scratch', () => {
    const job = resolveContainerSpec(
      parseContainerSpec({ image: IMAGE, profile: 'tre', data: '/safe_data/proj' }),
      ctx,
    );
    const body = createBody(job);
    expect(body.HostConfig).toMatchObject({
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      Tmpfs: { '/tmp': 'rw,nosuid,nodev,mode=1777' },
      Memory: 4096 * 1048576,
      MemorySwap: 4096 * 1048576,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Init: true,
      Mounts: [
        { Type: 'bind', Source: '/safe_data/proj', Target: '/safe_data', ReadOnly: true },
        { Type: 'bind', Source: '/home/u/outputs_0123456789ab', Target: '/safe_outputs', ReadOnly: false },
        { Type: 'bind', Source: '/home/u/scratch_0123456789ab', Target: '/scratch', ReadOnly: false },
      ],
    });
    expect(body.User).toBe('1234:1234');
    expect(body.Env).toContain('HOME=/scratch');
    expect(body.Cmd).toBeUndefined();
    expect(body.Tty).toBe(false);
  });

  it('refuses to loosen the TRE profile and requires its data folder', () => {
    expect(
      isDockerError(
        thrown(() => resolveContainerSpec(parseContainerSpec({ image: IMAGE, profile: 'tre' }), ctx)),
        'DOCKER_SPEC_INVALID',
      ),
    ).toBe(true);
    for (const loosen of [{ network: 'bridge' }, { readOnlyRoot: false }]) {
      const spec = parseContainerSpec({ image: IMAGE, profile: 'tre', data: '/d', ...loosen });
      expect(
        isDockerError(
          thrown(() => resolveContainerSpec(spec, ctx)),
          'DOCKER_SPEC_INVALID',
        ),
      ).toBe(true);
    }
  });

  it('lets a lab define its own profile as data', () => {
    const lab = {
      ...ctx,
      profiles: {
        ...builtinProfiles,
        lab: { ...builtinProfiles.default!, name: 'lab', memoryMb: 16384, pids: 512, network: 'none' },
      },
    };
    const body = createBody(
      resolveContainerSpec(parseContainerSpec({ image: IMAGE, cmd: ['x'], profile: 'lab' }), lab),
    );
    expect(body.HostConfig).toMatchObject({ Memory: 16384 * 1048576, PidsLimit: 512, NetworkMode: 'none' });
    expect(
      isDockerError(
        thrown(() => resolveContainerSpec(parseContainerSpec({ image: IMAGE, profile: 'nope' }), ctx)),
        'DOCKER_SPEC_INVALID',
      ),
    ).toBe(true);
  });

  it('keeps the ownership labels over caller labels', () => {
    const job = resolveContainerSpec(
      parseContainerSpec({ image: IMAGE, cmd: ['x'], labels: { 'io.beamline.owner': 'mallory', team: 'a' } }),
      ctx,
    );
    expect(job.labels['io.beamline.owner']).toBe('1234');
    expect(job.labels.team).toBe('a');
  });

  it('refuses two mounts on one target', () => {
    const spec = parseContainerSpec({
      image: IMAGE,
      cmd: ['x'],
      mounts: [
        { source: '/a', target: '/d' },
        { source: '/b', target: '/d' },
      ],
    });
    expect(
      isDockerError(
        thrown(() => resolveContainerSpec(spec, ctx)),
        'DOCKER_SPEC_INVALID',
      ),
    ).toBe(true);
  });
});

describe('inspect-and-assert', () => {
  const body = createBody(
    resolveContainerSpec(
      parseContainerSpec({ image: IMAGE, profile: 'tre', data: '/d', gpus: ['0'], cpus: 0.5 }),
      ctx,
    ),
  );
  const applied = {
    HostConfig: {
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      Memory: 4096 * 1048576,
      NanoCpus: 5e8,
      PidsLimit: 4096,
      DeviceRequests: [{ DeviceIDs: ['0'] }],
    },
    Mounts: body.HostConfig.Mounts.map((m) => ({ Destination: m.Target, Source: m.Source, RW: !m.ReadOnly })),
  };
  it('accepts a container that matches', () => {
    expect(settingsMismatches(body, applied)).toEqual([]);
  });
  it('lists every setting that did not take effect', () => {
    const wrong = {
      HostConfig: {
        ...applied.HostConfig,
        NetworkMode: 'bridge',
        ReadonlyRootfs: false,
        DeviceRequests: null,
      },
      Mounts: applied.Mounts.map((m) => ({ ...m, RW: true })),
    };
    const found = settingsMismatches(body, wrong).join('\n');
    expect(found).toMatch(/NetworkMode/);
    expect(found).toMatch(/ReadonlyRootfs/);
    expect(found).toMatch(/DeviceRequests/);
    expect(found).toMatch(/mount \/safe_data RW/);
  });
});
