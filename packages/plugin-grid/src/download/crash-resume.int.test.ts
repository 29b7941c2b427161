import { rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { requireService } from '@beamline/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasBinary, INSTALL_HINT } from '../../test/support/binaries.js';
import { makeFiles, runDownload, tempDir, type DataFile } from '../../test/support/fixtures.js';
import { startNginx, type TestNginx } from '../../test/support/nginx.js';
import { toGridFile } from '../model/grid-file.js';

const available = requireService('nginx', hasBinary('nginx'), INSTALL_HINT);
const MiB = 1024 * 1024;
const child = resolve(import.meta.dirname, '../../test/support/download-child.ts');

describe.skipIf(!available)('kill -9 of the downloading process, then a re-run', () => {
  let root: string;
  let nginx: TestNginx;
  let f: DataFile;

  beforeAll(async () => {
    root = tempDir('crash');
    f = makeFiles(join(root, 'data'), [8 * MiB + 5])[0]!;
    // 2 MB/s: the child is killed mid-file.
    nginx = await startNginx({ dir: join(root, 'nginx'), dataDir: join(root, 'data'), slowRate: '2m' });
  });
  afterAll(async () => {
    await nginx?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('leaves only a .part, and the re-run resumes it and verifies', async () => {
    const dest = join(root, 'out');
    const final = join(dest, f.name);
    const input = [
      { url: nginx.url(nginx.ports.slow, f.name), size: f.size, adler32: f.adler32, md5: f.md5 },
    ];
    const proc = spawn(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', child, JSON.stringify(input), dest],
      {
        cwd: resolve(import.meta.dirname, '../..'),
        // tsx applies a tsconfig only to the files it includes; core's decorators need the base options.
        env: {
          ...process.env,
          TSX_TSCONFIG_PATH: resolve(import.meta.dirname, '../../../../tsconfig.base.json'),
        },
        stdio: 'ignore',
      },
    );
    const exited = new Promise((r) => proc.once('exit', r));
    // Kill once some of the file has arrived, checking all along that nothing exists under the final name.
    const deadline = Date.now() + 60_000;
    for (;;) {
      expect(existsSync(final)).toBe(false);
      const size = existsSync(`${final}.part`) ? statSync(`${final}.part`).size : 0;
      if (size > 1.5 * MiB) break;
      if (Date.now() > deadline) throw new Error('the child made no progress');
      await new Promise((r) => setTimeout(r, 50));
    }
    proc.kill('SIGKILL');
    await exited;
    expect(existsSync(final)).toBe(false);
    expect(existsSync(`${final}.part.json`)).toBe(true);
    const partSize = statSync(`${final}.part`).size;

    const { events, error } = await runDownload(
      [toGridFile({ ...input[0], urls: [nginx.url(nginx.ports.replicas[0], f.name)], url: undefined })],
      { dest },
    );
    expect(error).toBeUndefined();
    const resume = events.find((e) => e.type === 'resume');
    expect(resume?.type === 'resume' && resume.offset).toBeGreaterThanOrEqual(partSize);
    const done = events.find((e) => e.type === 'file-done');
    expect(done?.type === 'file-done' && done.file.checksums).toMatchObject({
      adler32: f.adler32,
      md5: f.md5,
    });
    expect(existsSync(`${final}.part`)).toBe(false);
    expect(existsSync(`${final}.part.json`)).toBe(false);
  });
});
