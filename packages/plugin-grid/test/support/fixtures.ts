import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adler32, formatAdler32 } from '../../src/checksums/adler32.js';
import { lastValueFrom, tap } from 'rxjs';
import { download } from '../../src/download/downloader.js';
import type { DownloadOptions } from '../../src/download/download-options.js';
import type { GridEvent } from '../../src/download/grid-event.js';
import type { GridFile } from '../../src/model/grid-file.js';

/** A world-readable temp dir (nginx workers and xrootd run as other users). */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), `grid-${prefix}-`));
  chmodSync(d, 0o755);
  return d;
}

export interface DataFile {
  name: string;
  size: number;
  adler32: string;
  md5: string;
  sha256: string;
}

/** Random files with their reference checksums. */
export function makeFiles(dir: string, sizes: number[], prefix = 'f'): DataFile[] {
  mkdirSync(dir, { recursive: true });
  return sizes.map((size, i) => {
    const name = `${prefix}${i}.bin`;
    const data = randomBytes(size);
    writeFileSync(join(dir, name), data);
    chmodSync(join(dir, name), 0o644);
    return {
      name,
      size,
      adler32: formatAdler32(adler32(data)),
      md5: createHash('md5').update(data).digest('hex'),
      sha256: createHash('sha256').update(data).digest('hex'),
    };
  });
}

/** Runs a download to the end and returns all events, or the error with the events so far. */
export async function runDownload(
  files: GridFile[],
  options: DownloadOptions,
): Promise<{ events: GridEvent[]; error?: unknown }> {
  const events: GridEvent[] = [];
  try {
    await lastValueFrom(download(files, options).pipe(tap((e) => events.push(e))), {
      defaultValue: undefined,
    });
    return { events };
  } catch (error) {
    return { events, error };
  }
}
