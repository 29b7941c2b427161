import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { digestFile } from './digest-file.js';

describe('digestFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'beamline-digest-'));

  it('gives the SHA-256 and size of an empty file and of one larger than a read', async () => {
    writeFileSync(join(dir, 'empty'), '');
    expect(await digestFile(join(dir, 'empty'))).toEqual({
      sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      size: 0,
    });
    writeFileSync(join(dir, 'large'), Buffer.alloc(3 * 1024 * 1024 + 1, 'a'));
    const large = await digestFile(join(dir, 'large'));
    expect(large.size).toBe(3 * 1024 * 1024 + 1);
    expect(large.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('rejects for a missing file and when aborted', async () => {
    await expect(digestFile(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(digestFile(join(dir, 'large'), AbortSignal.abort())).rejects.toMatchObject({
      name: 'AbortError',
    });
  });
});
