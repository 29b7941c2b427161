import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createRuntime, isCoreError, MemoryStore, type Runtime } from '@beamline/core';
import { requireService } from '@beamline/core/testing';
import { createGridPlugin } from '@beamline/plugin-grid';
import { serveDirectory, type ServedDirectory } from '@beamline/plugin-grid/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerAvailable, TEST_IMAGE, TEST_PROJECT, testDocker } from '../../test/engine.js';
import { createDockerPlugin } from '../plugin/create-docker-plugin.js';
import { createDockerGridPlugin } from './create-docker-grid-plugin.js';

const available = requireService(
  'docker',
  await dockerAvailable(),
  'Run packages/plugin-docker/scripts/setup-test-env.sh as root.',
);

// The plugin-to-plugin dependency as users meet it: an image archive on (loopback) grid storage, loaded by
// a step of a real pipeline, with the grid plugin's downloader and the Docker plugin's client injected.
describe.skipIf(!available)('docker.load-archive (docker-grid plugin)', () => {
  const tag = `archived-${process.pid}`;
  const ref = `beamline-test/archive:${tag}`;
  let dir: string;
  let storage: ServedDirectory;
  let sha256: string;
  const runtimes: Runtime[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beamline-archive-'));
    await testDocker.getImage(TEST_IMAGE).tag({ repo: 'beamline-test/archive', tag });
    await pipeline(await testDocker.getImage(ref).get(), createWriteStream(join(dir, 'image.tar')));
    // Only the archive has the tag now: loading it is what brings it back.
    await testDocker.getImage(ref).remove();
    sha256 = createHash('sha256')
      .update(await readFile(join(dir, 'image.tar')))
      .digest('hex');
    storage = await serveDirectory(dir);
  });

  afterAll(async () => {
    await Promise.all(runtimes.map((runtime) => runtime.close()));
    await storage?.close();
    await testDocker
      .getImage(ref)
      .remove()
      .catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  async function runtime(withGrid = true): Promise<Runtime> {
    const created = await createRuntime({
      store: new MemoryStore(),
      cwd: await mkdtemp(join(tmpdir(), 'beamline-archive-run-')),
      plugins: [
        createDockerPlugin({ project: TEST_PROJECT, janitorOnStart: false }),
        ...(withGrid ? [createGridPlugin()] : []),
        createDockerGridPlugin(),
      ],
    });
    runtimes.push(created);
    return created;
  }

  it('fetches the archive through the grid plugin, verifies it and loads the image', async () => {
    const rt = await runtime();
    const handle = await rt.run({
      name: 'archive',
      steps: { load: { uses: 'docker.load-archive', with: { urls: [`${storage.url}/image.tar`], sha256 } } },
    });
    const result = await handle.done;
    expect(result.status).toBe('succeeded');
    expect(result.steps.load?.outputs?.images).toContain(ref);
    expect((await testDocker.getImage(ref).inspect()).Id).toBe(
      (await testDocker.getImage(TEST_IMAGE).inspect()).Id,
    );
    await testDocker.getImage(ref).remove();
  });

  it('loads nothing when the archive does not match its checksum', async () => {
    const rt = await runtime();
    const handle = await rt.run({
      name: 'archive',
      steps: {
        load: {
          uses: 'docker.load-archive',
          with: { urls: [`${storage.url}/image.tar`], sha256: '0'.repeat(64) },
        },
      },
    });
    const result = await handle.done;
    expect(result.status).toBe('failed');
    expect(result.steps.load?.error?.code).toMatch(/^GRID_/);
    await expect(testDocker.getImage(ref).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('refuses to start without the grid plugin it depends on', async () => {
    const error = await runtime(false).catch((e: unknown) => e);
    expect(isCoreError(error, 'CORE_PLUGIN_MISSING_DEPENDENCY')).toBe(true);
    expect((error as Error).message).toContain('"grid"');
  });
});
