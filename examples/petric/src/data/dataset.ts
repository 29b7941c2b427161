import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Reference } from '../metrics/quality-metrics.js';
import { readInterfile } from './interfile.js';

/** Where PETRIC keeps a dataset's reference image and VOI masks: `<dataset>/PETRIC/`. */
export const REFERENCE_DIR = 'PETRIC';

/** A dataset's reference, loaded for metric computation. */
export interface LoadedReference extends Reference {
  /** VOI names (`VOI_<name>.hv` other than whole_object and background), sorted. */
  voiNames: string[];
}

/**
 * Loads `<dataset>/PETRIC/reference_image.hv`, `VOI_whole_object.hv`, `VOI_background.hv` and every
 * other `VOI_<name>.hv`, as `petric.py`'s `get_data` does; undefined when the dataset has no reference
 * (it is then run without metrics).
 */
export async function loadReference(datasetDir: string): Promise<LoadedReference | undefined> {
  const dir = join(datasetDir, REFERENCE_DIR);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if (!names.includes('reference_image.hv')) return undefined;
  const read = async (name: string) => (await readInterfile(join(dir, name))).data;
  const vois = new Map<string, Float32Array | Float64Array>();
  for (const name of names.sort()) {
    const m = /^VOI_(.+)\.hv$/.exec(name);
    if (m && m[1] !== 'whole_object' && m[1] !== 'background') vois.set(m[1]!, await read(name));
  }
  return {
    image: await read('reference_image.hv'),
    wholeObject: await read('VOI_whole_object.hv'),
    background: await read('VOI_background.hv'),
    vois,
    voiNames: [...vois.keys()],
  };
}

async function hashFile(path: string, hash: ReturnType<typeof createHash>): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

/**
 * The content digest of a dataset folder (every file's relative path and bytes, symbolic links followed),
 * part of an evaluation's cache key: new data re-runs the submissions, unchanged data does not.
 */
export async function datasetDigest(datasetDir: string): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (dir: string, prefix: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      const info = await stat(path);
      if (info.isDirectory()) await walk(path, `${prefix}${name}/`);
      else if (info.isFile()) {
        hash.update(`${prefix}${name}\0${info.size}\0`);
        await hashFile(path, hash);
      }
    }
  };
  await walk(datasetDir, '');
  return hash.digest('hex');
}
