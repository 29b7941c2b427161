#!/usr/bin/env node
// A demo PETRIC submission with no dependencies but Node: Richardson-Lucy (EM) deconvolution of the
// dataset's measured.hv (the reference blurred with a 0.15/0.7/0.15 kernel on each axis), starting from
// OSEM_image.hv. Each reported iteration writes iter_<k>.hv/.v to $PETRIC_OUTDIR and prints
// "::image <k> iter_<k>.hv". Usage: run.mjs fast | slow
//   fast: 8 EM updates per reported iteration; slow: 1 update and a 50 ms pause per reported iteration.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const mode = process.argv[2] === 'fast' ? 'fast' : 'slow';
const src = process.env.PETRIC_SRCDIR ?? '.';
const out = process.env.PETRIC_OUTDIR ?? '.';
const KERNEL = [0.15, 0.7, 0.15];

function readImage(hv) {
  const keys = new Map();
  for (const line of readFileSync(join(src, hv), 'utf8').split('\n')) {
    const i = line.indexOf(':=');
    if (i > 0)
      keys.set(
        line
          .slice(0, i)
          .replace(/[!\s]+/g, ' ')
          .trim()
          .toLowerCase(),
        line.slice(i + 2).trim(),
      );
  }
  const dims = [1, 2, 3].map((k) => Number(keys.get(`matrix size [${k}]`)));
  const bytes = readFileSync(join(src, keys.get('name of data file')));
  const data = new Float32Array(dims[0] * dims[1] * dims[2]);
  for (let i = 0; i < data.length; i++) data[i] = bytes.readFloatLE(i * 4);
  return { dims, data };
}

function writeImage(name, dims, data) {
  const bytes = Buffer.alloc(data.length * 4);
  data.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
  writeFileSync(join(out, `${name}.v.tmp`), bytes);
  renameSync(join(out, `${name}.v.tmp`), join(out, `${name}.v`));
  const header = [
    '!INTERFILE :=',
    `name of data file := ${name}.v`,
    '!number format := float',
    '!number of bytes per pixel := 4',
    'imagedata byte order := LITTLEENDIAN',
    'number of dimensions := 3',
    ...dims.map((n, k) => `!matrix size [${k + 1}] := ${n}`),
    '!END OF INTERFILE :=',
    '',
  ];
  writeFileSync(join(out, `${name}.hv.tmp`), header.join('\n'));
  renameSync(join(out, `${name}.hv.tmp`), join(out, `${name}.hv`));
}

function blur(dims, image) {
  const [nx, ny, nz] = dims;
  let a = image;
  for (const [stride, n] of [
    [1, nx],
    [nx, ny],
    [nx * ny, nz],
  ]) {
    const b = new Float32Array(a.length);
    for (let i = 0; i < a.length; i++) {
      const c = Math.floor(i / stride) % n;
      b[i] =
        KERNEL[0] * (c > 0 ? a[i - stride] : a[i]) +
        KERNEL[1] * a[i] +
        KERNEL[2] * (c < n - 1 ? a[i + stride] : a[i]);
    }
    a = b;
  }
  return a;
}

const measured = readImage('measured.hv');
let x = readImage('OSEM_image.hv').data.map((v) => Math.max(v, 1e-3));
const updates = mode === 'fast' ? 8 : 1;
for (let k = 0; ; k++) {
  for (let u = 0; u < updates; u++) {
    const forward = blur(measured.dims, x);
    const back = blur(
      measured.dims,
      forward.map((v, i) => (v > 0 ? measured.data[i] / v : 0)),
    );
    x = x.map((v, i) => v * back[i]);
  }
  writeImage(`iter_${k}`, measured.dims, x);
  console.log(`::image ${k} iter_${k}.hv`);
  if (mode === 'slow') await new Promise((r) => setTimeout(r, 50));
}
