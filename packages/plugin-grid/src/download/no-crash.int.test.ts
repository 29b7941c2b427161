import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endedCleanly, startDownloadChild, waitFor } from '../../test/support/child.js';
import { tempDir } from '../../test/support/fixtures.js';
import { MiB, startFileServer, type FileServer } from '../../test/support/file-server.js';

/**
 * No uncaught exception or unhandled rejection, ever: each scenario runs the library in a child process
 * under `--unhandled-rejections=strict`, which would end it with a stack trace.
 */
describe('misbehaviour around a running download never crashes the process', () => {
  let server: FileServer;
  let root: string;
  const data = randomBytes(6 * MiB);
  const fast = { retry: { perReplica: 2, rounds: 1, backoff: { initialDelayMs: 10, maxDelayMs: 20 } } };

  beforeAll(async () => {
    root = tempDir('nocrash');
    server = await startFileServer();
    server.setFile('a.bin', data);
  });
  afterAll(async () => {
    await server.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('a .part deleted during the transfer ends the file with an error, not a crash', async () => {
    server.behaviour.rate = 2 * MiB;
    const dest = join(root, 'deleted');
    const part = join(dest, 'a.bin.part');
    const child = startDownloadChild([{ url: server.url('a.bin'), size: data.length }], dest, fast);
    await waitFor('the .part to grow', () => existsSync(part) && statSync(part).size > 256 * 1024);
    rmSync(part);
    const outcome = await child.exited;
    delete server.behaviour.rate;
    expect(endedCleanly(outcome), outcome.stderr).toBe(true);
    if (outcome.code === 3) {
      expect(outcome.error?.code).toBe('GRID_FILES_FAILED');
      expect(JSON.stringify(outcome.error)).toMatch(/was removed during the download/);
    }
  });

  it('a 412 on a segment ends with an error, not a crash, and leaves no state file', async () => {
    server.behaviour.rangeStatus = { status: 412, when: (r) => r.start > 0 };
    const dest = join(root, 'seg412');
    const outcome = await startDownloadChild([{ url: server.url('a.bin') }], dest, {
      ...fast,
      segments: 4,
      segmentMinSize: 1,
    }).exited;
    delete server.behaviour.rangeStatus;
    expect(endedCleanly(outcome), outcome.stderr).toBe(true);
    expect(outcome.error?.code).toBe('GRID_FILES_FAILED');
    expect(readdirSync(dest)).toEqual([]);
  });

  it('a second download into the same dest is refused naming the first one’s pid; a lock left by kill -9 does not block', async () => {
    // Slow enough that the first still holds the lock however long the second takes to start (a loaded
    // machine), then fast again.
    server.behaviour.rate = 256 * 1024;
    const dest = join(root, 'twice');
    const input = [{ url: server.url('a.bin'), size: data.length }];
    const first = startDownloadChild(input, dest, fast);
    await waitFor('the first download to start', () => existsSync(join(dest, 'a.bin.part')));
    const second = await startDownloadChild(input, dest, fast).exited;
    server.behaviour.rate = 3 * MiB;
    expect(endedCleanly(second), second.stderr).toBe(true);
    expect(second.error?.code).toBe('GRID_DEST_BUSY');
    expect(second.error?.message).toContain(`pid ${first.pid}`);
    // The refused run touched nothing: the first one finishes and verifies.
    const done = await first.exited;
    expect(done.code, done.stdout + done.stderr).toBe(0);
    expect(readFileSync(join(dest, 'a.bin')).equals(data)).toBe(true);

    const dest2 = join(root, 'stale');
    const killed = startDownloadChild(input, dest2, fast);
    await waitFor(
      'the .part to grow',
      () => existsSync(join(dest2, 'a.bin.part')) && statSync(join(dest2, 'a.bin.part')).size > 512 * 1024,
    );
    killed.proc.kill('SIGKILL');
    await killed.exited;
    expect(existsSync(join(dest2, '.beamline-grid.lock'))).toBe(true);
    delete server.behaviour.rate;
    const after = await startDownloadChild(input, dest2, fast).exited;
    expect(after.code, after.stdout + after.stderr).toBe(0);
    expect(readFileSync(join(dest2, 'a.bin')).equals(data)).toBe(true);
    expect(readdirSync(dest2)).toEqual(['a.bin']);
  });
});
