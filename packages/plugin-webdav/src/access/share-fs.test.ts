import { mkdirSync, mkdtempSync, openSync, closeSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HttpError } from '../http/http-error.js';
import { ShareFs } from './share-fs.js';

let dir: string;

beforeEach(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'webdav-sharefs-')));
  mkdirSync(join(dir, 'share', 'sub'), { recursive: true });
  writeFileSync(join(dir, 'share', 'a.txt'), 'a');
  writeFileSync(join(dir, 'share', 'sub', 'b.txt'), 'bb');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('ShareFs.openRead', () => {
  it('opens files and folders and reports their real paths', async () => {
    const fs = await ShareFs.open(join(dir, 'share'), false);
    try {
      const file = fs.openRead(['sub', 'b.txt']);
      expect(file?.stats.size).toBe(2n);
      expect(file?.realPath).toBe(join(dir, 'share', 'sub', 'b.txt'));
      file?.close();
      const folder = fs.openRead(['sub']);
      expect(folder?.stats.isDirectory()).toBe(true);
      expect(folder?.realPath).toBe(join(dir, 'share', 'sub'));
      folder?.close();
      expect(fs.openRead(['a.txt', 'more'])).toBeUndefined();
      expect(fs.openRead(['missing'])).toBeUndefined();
    } finally {
      await fs.close();
    }
  });

  it('refuses to walk once closed, even when its descriptor numbers were reused', async () => {
    const fs = await ShareFs.open(join(dir, 'share'), false);
    await fs.close();
    // The share's descriptor number now likely names this other folder: a walk must not use it.
    mkdirSync(join(dir, 'other'));
    writeFileSync(join(dir, 'other', 'a.txt'), 'other');
    const reused = openSync(join(dir, 'other'), 'r');
    try {
      let failure: unknown;
      try {
        fs.openRead(['a.txt'])?.close();
      } catch (error) {
        failure = error;
      }
      expect(failure).toBeInstanceOf(HttpError);
      expect((failure as HttpError).status).toBe(503);
    } finally {
      closeSync(reused);
    }
  });
});
