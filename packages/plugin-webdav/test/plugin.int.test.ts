import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRuntime, MemoryStore, type Runtime } from '@beamline/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebdavPlugin } from '../src/plugin.js';
import { WebdavServiceToken } from '../src/tokens.js';
import { securityFixture, type SecurityFixture } from './support/fixture.js';

let fixture: SecurityFixture;
let runtime: Runtime;
let cwd: string;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

beforeAll(async () => {
  fixture = await securityFixture();
  cwd = join(fixture.root, 'work');
  mkdirSync(join(cwd, 'out', 'plots'), { recursive: true });
  writeFileSync(join(cwd, 'out', 'metrics.json'), '{"rmse":0.12}\n');
  writeFileSync(join(cwd, 'out', 'plots', 'loss.csv'), 'epoch,loss\n1,0.5\n');
  runtime = await createRuntime({
    store: new MemoryStore(),
    cwd,
    plugins: [
      createWebdavPlugin({
        shares: { ...fixture.config, stateDir: join(fixture.root, 'state') },
        listen: { host: '127.0.0.1', port: 0 },
      }),
    ],
  });
});

afterAll(async () => {
  await runtime?.close();
  fixture?.cleanup();
});

describe('createWebdavPlugin', () => {
  it('starts the webdav service with the runtime: healthy, serving its shares', async () => {
    const service = runtime.resolve(WebdavServiceToken);
    expect(service.name).toBe('webdav');
    expect(await service.health()).toMatchObject({ ok: true });
    const url = (await service.start()).url; // idempotent: the address it already has
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await (await fetch(`${url}/data/file.txt`)).text()).toBe('public data\n');
    expect(service.server?.healthy()).toBe(true);
  });

  it('webdav.publish places a folder into a share atomically, with SHA-256 artifacts and a manifest', async () => {
    const handle = await runtime.run({
      name: 'publish',
      steps: {
        publish: {
          uses: 'webdav.publish',
          cache: false,
          with: { share: '/data', dest: 'results/team a/v1', from: 'out' },
        },
      },
    });
    const result = await handle.done;
    expect(result.status, JSON.stringify(result.error ?? result.steps.publish?.error)).toBe('succeeded');
    const step = result.steps.publish;
    expect(step?.outputs).toMatchObject({ url: '/data/results/team%20a/v1/', files: 2 });
    const published = join(fixture.data, 'results', 'team a', 'v1');
    expect(readdirSync(published).sort()).toEqual(['SHA256SUMS', 'metrics.json', 'plots']);
    expect(readFileSync(join(published, 'SHA256SUMS'), 'utf8')).toContain(
      `${sha256('{"rmse":0.12}\n')}  metrics.json`,
    );
    const artifacts = Object.fromEntries((step?.artifacts ?? []).map((a) => [a.name, a.sha256]));
    expect(artifacts['plots/loss.csv']).toBe(sha256('epoch,loss\n1,0.5\n'));
    // Served at once by the running share (anonymous read of /data).
    const url = (await runtime.resolve(WebdavServiceToken).start()).url;
    expect(await (await fetch(`${url}/data/results/team%20a/v1/plots/loss.csv`)).text()).toBe(
      'epoch,loss\n1,0.5\n',
    );
    expect(readdirSync(join(fixture.data, 'results', 'team a')).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('webdav.publish refuses to replace unless overwrite, and never writes outside the share', async () => {
    writeFileSync(join(cwd, 'out', 'metrics.json'), '{"rmse":0.10}\n');
    const refused = await (
      await runtime.run({
        name: 'again',
        steps: {
          publish: {
            uses: 'webdav.publish',
            cache: false,
            with: { share: '/data', dest: 'results/team a/v1', from: 'out' },
          },
        },
      })
    ).done;
    expect(refused.status).toBe('failed');
    expect(JSON.stringify(refused.steps.publish?.error)).toMatch(/exists \(set overwrite to replace it\)/);
    const replaced = await (
      await runtime.run({
        name: 'replace',
        steps: {
          publish: {
            uses: 'webdav.publish',
            cache: false,
            with: { share: '/data', dest: 'results/team a/v1', from: 'out', overwrite: true },
          },
        },
      })
    ).done;
    expect(replaced.status).toBe('succeeded');
    expect(readFileSync(join(fixture.data, 'results', 'team a', 'v1', 'metrics.json'), 'utf8')).toBe(
      '{"rmse":0.10}\n',
    );
    for (const dest of ['../outside', 'rel_wip/x', 'escape/x']) {
      const bad = await (
        await runtime.run({
          name: 'escape',
          steps: {
            publish: { uses: 'webdav.publish', cache: false, with: { share: '/data', dest, from: 'out' } },
          },
        })
      ).done;
      expect(bad.status, dest).toBe('failed');
    }
    expect(readdirSync(fixture.outside)).toEqual(['private.txt']);
    expect(readdirSync(fixture.wip)).toEqual(['secret.txt']);
  });

  it('stops the server when the runtime closes', async () => {
    const service = runtime.resolve(WebdavServiceToken);
    const url = (await service.start()).url;
    await runtime.close();
    expect(await service.health()).toMatchObject({ ok: false });
    await expect(fetch(`${url}/data/file.txt`)).rejects.toThrow();
  });
});
