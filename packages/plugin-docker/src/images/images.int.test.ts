import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { requireService } from '@beamline/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanupByLabel,
  collect,
  dockerAvailable,
  TEST_IMAGE,
  TEST_PROJECT,
  testDocker,
} from '../../test/engine.js';
import { isDockerError } from '../errors/docker-error.js';
import { dateTag } from '../naming/image-ref.js';
import { DockerRunner } from '../runner/docker-runner.js';
import { buildImage } from './build-image.js';
import { loadImage } from './load-image.js';
import { pullImage } from './pull-image.js';

const available = requireService(
  'docker',
  await dockerAvailable(),
  'Run packages/plugin-docker/scripts/setup-test-env.sh as root.',
);
const LABELS = { 'io.beamline.project': TEST_PROJECT };
const REPO = 'bl-test/built';

describe.skipIf(!available)('images against a real engine (offline)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bl-img-'));
  });
  afterAll(async () => {
    await cleanupByLabel(TEST_PROJECT, true);
    await testDocker
      .getImage('bl-test/loadme:1.0')
      .remove({ force: true })
      .catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('builds the whole context minus .dockerignore, tagged with version and date, with OCI labels', async () => {
    const ctx = join(dir, 'ctx');
    await mkdir(join(ctx, 'sub'), { recursive: true });
    await writeFile(join(ctx, 'keep.txt'), 'keep');
    await writeFile(join(ctx, 'secret.txt'), 'secret');
    await writeFile(join(ctx, 'sub', 'data.bin'), 'data');
    await writeFile(join(ctx, 'sub', 'noise.log'), 'log');
    await writeFile(join(ctx, '.dockerignore'), 'secret.txt\n**/*.log\n');
    await writeFile(
      join(ctx, 'Dockerfile'),
      `FROM ${TEST_IMAGE}\nCOPY . /ctx\nRUN echo built > /built.txt\n`,
    );
    const progress: string[] = [];
    const result = await buildImage(testDocker, {
      context: ctx,
      repository: REPO,
      version: '0.1.0',
      labels: LABELS,
      onProgress: (m) => progress.push(m.stream ?? ''),
    });
    expect(result.id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(result.tags).toEqual([`${REPO}:0.1.0`, `${REPO}:${dateTag()}`]);
    const image = await testDocker.getImage(`${REPO}:0.1.0`).inspect();
    expect(image.Id).toBe(result.id);
    expect(image.RepoTags).toEqual(expect.arrayContaining(result.tags));
    expect(image.RepoTags).not.toContain(`${REPO}:latest`);
    expect(image.Config.Labels).toMatchObject({ 'org.opencontainers.image.version': '0.1.0', ...LABELS });
    expect(progress.join('')).toMatch(/Step 3\/\d+ : RUN echo built/);

    const runner = new DockerRunner({ project: TEST_PROJECT, pullPolicy: 'never' });
    const out = await collect(
      runner.run({
        image: `${REPO}:0.1.0`,
        cmd: ['sh', '-c', 'cd /ctx && find . -type f | sort; cat /built.txt'],
      }),
    );
    expect(out.stdout.toString().split('\n')).toEqual([
      './.dockerignore',
      './Dockerfile',
      './keep.txt',
      './sub/data.bin',
      'built',
      '',
    ]);
  });

  it('reports a failed build with the step and the daemon message', async () => {
    const ctx = join(dir, 'bad');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${TEST_IMAGE}\nRUN exit 3\n`);
    const error = await buildImage(testDocker, {
      context: ctx,
      repository: REPO,
      version: '0.0.1-bad',
      labels: LABELS,
    }).catch((e: unknown) => e);
    expect(isDockerError(error, 'DOCKER_BUILD_FAILED')).toBe(true);
    const details = (error as { details: { step?: string; message?: string } }).details;
    // The classic builder appends the labels as extra steps, hence 2/N.
    expect(details.step).toMatch(/^2\/\d+ RUN exit 3$/);
    expect(details.message).toContain('returned a non-zero code: 3');
  });

  it('refuses latest and untagged references (build, pull and run)', async () => {
    await expect(
      buildImage(testDocker, { context: dir, repository: REPO, version: 'latest' }),
    ).rejects.toMatchObject({ code: 'DOCKER_IMAGE_REF_INVALID' });
    await expect(pullImage(testDocker, 'beamline-test/busybox')).rejects.toMatchObject({
      code: 'DOCKER_IMAGE_REF_INVALID',
    });
    const out = await collect(
      new DockerRunner({ project: TEST_PROJECT }).run({
        image: 'beamline-test/busybox:latest',
        cmd: ['true'],
      }),
    );
    expect(isDockerError(out.error, 'DOCKER_IMAGE_REF_INVALID')).toBe(true);
  });

  it('loads a docker save tar and lists the loaded reference', async () => {
    await testDocker.getImage(TEST_IMAGE).tag({ repo: 'bl-test/loadme', tag: '1.0' });
    const file = join(dir, 'saved.tar');
    await pipeline(await testDocker.getImage('bl-test/loadme:1.0').get(), createWriteStream(file));
    await testDocker.getImage('bl-test/loadme:1.0').remove();
    const result = await loadImage(testDocker, file);
    expect(result.images).toContain('bl-test/loadme:1.0');
    await expect(testDocker.getImage('bl-test/loadme:1.0').inspect()).resolves.toBeDefined();
  });

  it('reports a garbage tar as LOAD_FAILED with the daemon message', async () => {
    const file = join(dir, 'garbage.tar');
    await writeFile(file, Buffer.alloc(3000, 7));
    const error = await loadImage(testDocker, file).catch((e: unknown) => e);
    expect(isDockerError(error, 'DOCKER_LOAD_FAILED')).toBe(true);
    expect((error as Error).message).toMatch(/tar|EOF|invalid/i);
  });

  it('reports an unreachable registry quickly, after its retries', async () => {
    const began = Date.now();
    const error = await pullImage(testDocker, 'localhost:1/x/y:1.0', { retries: 2, backoffMs: 20 }).catch(
      (e: unknown) => e,
    );
    expect(isDockerError(error, 'DOCKER_REGISTRY_UNREACHABLE')).toBe(true);
    expect((error as { retryable: boolean }).retryable).toBe(true);
    expect(Date.now() - began).toBeLessThan(5000);
  });

  it('never contacts a registry for a present image under policy missing; never fails for an absent one', async () => {
    await expect(pullImage(testDocker, TEST_IMAGE, { policy: 'missing' })).resolves.toMatchObject({
      pulled: false,
    });
    await expect(pullImage(testDocker, 'bl-test/absent:1.0', { policy: 'never' })).rejects.toMatchObject({
      code: 'DOCKER_IMAGE_NOT_FOUND',
    });
  });

  it('pulls a missing image at run time by policy and reports the registry failure', async () => {
    const out = await collect(
      new DockerRunner({ project: TEST_PROJECT, pullRetries: 0 }).run({
        image: 'localhost:1/x/y:1.0',
        cmd: ['true'],
      }),
    );
    expect(isDockerError(out.error, 'DOCKER_REGISTRY_UNREACHABLE')).toBe(true);
  });
});
