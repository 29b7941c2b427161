import { readFile, realpath, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, isAbsolute, sep } from 'node:path';

/** A volume read from an Interfile header and its data file. */
export interface Volume {
  /** Matrix sizes, fastest-varying axis first (`!matrix size [1]`, `[2]`, …). */
  dims: number[];
  data: Float32Array | Float64Array;
}

function parseHeader(text: string, where: string): Map<string, string> {
  const keys = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const i = raw.indexOf(':=');
    if (i < 0) continue;
    const key = raw
      .slice(0, i)
      .replace(/^[\s!]+/, '')
      .replace(/\s+/g, ' ')
      .trim()
      .toLowerCase();
    keys.set(key, raw.slice(i + 2).trim());
  }
  if (!keys.has('interfile')) throw new Error(`${where}: not an Interfile header (no "!INTERFILE :=" line)`);
  return keys;
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel));
}

/**
 * Reads an Interfile image (`.hv` header, data file beside it): float (4 or 8 bytes) or integer voxels,
 * either byte order. With `root`, the header and its data file must resolve (symbolic links followed)
 * inside that folder, so a header cannot point the reader at other files.
 */
export async function readInterfile(headerPath: string, options: { root?: string } = {}): Promise<Volume> {
  const root = options.root === undefined ? undefined : await realpath(options.root);
  const check = async (path: string) => {
    const real = await realpath(path);
    if (root !== undefined && !inside(root, real))
      throw new Error(`${path} resolves outside ${options.root}`);
    return real;
  };
  const header = await check(headerPath);
  const keys = parseHeader(await readFile(header, 'utf8'), headerPath);
  const get = (key: string) => {
    const v = keys.get(key);
    if (v === undefined || v === '') throw new Error(`${headerPath}: missing "${key} :="`);
    return v;
  };
  const ndims = Number(get('number of dimensions'));
  if (!Number.isInteger(ndims) || ndims < 1 || ndims > 4)
    throw new Error(`${headerPath}: number of dimensions ${ndims} not supported`);
  const dims = Array.from({ length: ndims }, (_, k) => {
    const n = Number(get(`matrix size [${k + 1}]`));
    if (!Number.isInteger(n) || n < 1)
      throw new Error(`${headerPath}: matrix size [${k + 1}] must be a positive integer`);
    return n;
  });
  const count = dims.reduce((a, b) => a * b, 1);
  if (count > 512 ** 3) throw new Error(`${headerPath}: ${count} voxels is more than this reader accepts`);
  const format = (keys.get('number format') ?? 'float').toLowerCase();
  const bytes = Number(keys.get('number of bytes per pixel') ?? (format === 'float' ? 4 : 2));
  const little = !/^big/i.test(keys.get('imagedata byte order') ?? 'LITTLEENDIAN');
  const offset = Number(keys.get('data offset in bytes [1]') ?? keys.get('data offset in bytes') ?? 0);
  const dataName = get('name of data file');
  const dataPath = await check(isAbsolute(dataName) ? dataName : join(dirname(header), dataName));
  const raw = await readFile(dataPath);
  if (raw.length < offset + count * bytes) {
    throw new Error(
      `${dataPath}: ${raw.length} bytes, the header ${headerPath} describes ${offset + count * bytes}`,
    );
  }
  const view = new DataView(raw.buffer, raw.byteOffset + offset, count * bytes);
  const read = voxelReader(format, bytes, headerPath);
  const data = format === 'float' && bytes === 4 ? new Float32Array(count) : new Float64Array(count);
  for (let i = 0; i < count; i++) data[i] = read(view, i * bytes, little);
  return { dims, data };
}

function voxelReader(
  format: string,
  bytes: number,
  where: string,
): (v: DataView, at: number, little: boolean) => number {
  if (format === 'float' && bytes === 4) return (v, at, le) => v.getFloat32(at, le);
  if (format === 'float' && bytes === 8) return (v, at, le) => v.getFloat64(at, le);
  if (format.startsWith('signed') && bytes === 2) return (v, at, le) => v.getInt16(at, le);
  if (format.startsWith('signed') && bytes === 4) return (v, at, le) => v.getInt32(at, le);
  if (format.startsWith('unsigned') && bytes === 1) return (v, at) => v.getUint8(at);
  if (format.startsWith('unsigned') && bytes === 2) return (v, at, le) => v.getUint16(at, le);
  if (format.startsWith('unsigned') && bytes === 4) return (v, at, le) => v.getUint32(at, le);
  throw new Error(`${where}: number format "${format}" with ${bytes} bytes per pixel is not supported`);
}

/**
 * Writes a float32 little-endian Interfile image: `<name>.hv` and `<name>.v`, each under a temporary
 * name first and renamed into place (data before header), so a reader never sees a partial image.
 */
export async function writeInterfile(
  headerPath: string,
  volume: { dims: number[]; data: ArrayLike<number> },
): Promise<void> {
  const count = volume.dims.reduce((a, b) => a * b, 1);
  if (count !== volume.data.length)
    throw new Error(`dims ${volume.dims.join('x')} do not match ${volume.data.length} voxels`);
  const dataPath = headerPath.replace(/\.hv$/, '') + '.v';
  const buf = Buffer.allocUnsafe(count * 4);
  for (let i = 0; i < count; i++) buf.writeFloatLE(volume.data[i]!, i * 4);
  const lines = [
    '!INTERFILE  :=',
    `name of data file := ${basename(dataPath)}`,
    '!GENERAL DATA :=',
    '!GENERAL IMAGE DATA :=',
    '!type of data := PET',
    'imagedata byte order := LITTLEENDIAN',
    '!number format := float',
    '!number of bytes per pixel := 4',
    `number of dimensions := ${volume.dims.length}`,
    ...volume.dims.map((n, k) => `!matrix size [${k + 1}] := ${n}`),
    '!END OF INTERFILE :=',
    '',
  ];
  const tmp = `.${process.pid}.${Date.now()}.tmp`;
  await writeFile(dataPath + tmp, buf);
  await rename(dataPath + tmp, dataPath);
  await writeFile(headerPath + tmp, lines.join('\n'));
  await rename(headerPath + tmp, resolve(headerPath));
}
