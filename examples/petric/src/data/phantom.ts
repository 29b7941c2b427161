import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { REFERENCE_DIR } from './dataset.js';
import { writeInterfile } from './interfile.js';

/** A small synthetic PET phantom: a cylinder with hot and cold spheres. */
export interface Phantom {
  dims: [number, number, number];
  reference: Float32Array;
  /** The starting image a reconstruction gets (`OSEM_image.hv`): the reference smoothed towards its mean. */
  initial: Float32Array;
  wholeObject: Float32Array;
  background: Float32Array;
  vois: Map<string, Float32Array>;
}

/** Options of {@link makePhantom}. */
export interface PhantomOptions {
  /** Voxels per axis (x, y, z); default 24 × 24 × 8. */
  dims?: [number, number, number];
  /** Activity of the hot sphere relative to the background (default 4). */
  contrast?: number;
}

/** Builds a phantom: background activity 1, a hot sphere, a cold sphere, zero outside the cylinder. */
export function makePhantom(options: PhantomOptions = {}): Phantom {
  const [nx, ny, nz] = options.dims ?? [24, 24, 8];
  const n = nx * ny * nz;
  const reference = new Float32Array(n);
  const wholeObject = new Float32Array(n);
  const background = new Float32Array(n);
  const hot = new Float32Array(n);
  const cold = new Float32Array(n);
  const cx = (nx - 1) / 2;
  const cy = (ny - 1) / 2;
  const cz = (nz - 1) / 2;
  const radius = Math.min(nx, ny) * 0.42;
  const sphere = Math.max(1.5, Math.min(nx, ny, nz * 2) * 0.14);
  const hotAt = [cx + radius * 0.45, cy, cz];
  const coldAt = [cx - radius * 0.45, cy, cz];
  const d = (x: number, y: number, z: number, c: number[]) => Math.hypot(x - c[0]!, y - c[1]!, z - c[2]!);
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        const i = x + nx * (y + ny * z);
        if (Math.hypot(x - cx, y - cy) > radius) continue;
        wholeObject[i] = 1;
        reference[i] = 1;
        if (d(x, y, z, hotAt) <= sphere) {
          hot[i] = 1;
          reference[i] = options.contrast ?? 4;
        } else if (d(x, y, z, coldAt) <= sphere) {
          cold[i] = 1;
          reference[i] = 0.25;
        } else if (
          Math.hypot(x - cx, y - cy) <= radius - 1 &&
          d(x, y, z, hotAt) > sphere + 1 &&
          d(x, y, z, coldAt) > sphere + 1
        ) {
          background[i] = 1;
        }
      }
    }
  }
  if (!background.includes(1))
    throw new RangeError(`a ${nx}×${ny}×${nz} phantom has no background voxel: use at least 12×12×2`);
  let sum = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    if (!wholeObject[i]) continue;
    sum += reference[i]!;
    count++;
  }
  const mean = sum / count;
  const initial = reference.map((v, i) => (wholeObject[i] ? 0.5 * v + 0.5 * mean : 0));
  return {
    dims: [nx, ny, nz],
    reference,
    initial,
    wholeObject,
    background,
    vois: new Map([
      ['hot_sphere', hot],
      ['cold_sphere', cold],
    ]),
  };
}

/** The image `fraction` of the way from the phantom's initial image to its reference. */
export function blend(phantom: Phantom, fraction: number): Float32Array {
  return phantom.initial.map((v, i) => v + (phantom.reference[i]! - v) * fraction);
}

/** Writes a phantom as a PETRIC dataset folder: `OSEM_image.hv` and `PETRIC/` (reference, VOIs). */
export async function writePhantomDataset(dir: string, phantom: Phantom): Promise<void> {
  const ref = join(dir, REFERENCE_DIR);
  await mkdir(ref, { recursive: true });
  const dims = phantom.dims;
  await writeInterfile(join(dir, 'OSEM_image.hv'), { dims, data: phantom.initial });
  await writeInterfile(join(ref, 'reference_image.hv'), { dims, data: phantom.reference });
  await writeInterfile(join(ref, 'VOI_whole_object.hv'), { dims, data: phantom.wholeObject });
  await writeInterfile(join(ref, 'VOI_background.hv'), { dims, data: phantom.background });
  for (const [name, mask] of phantom.vois)
    await writeInterfile(join(ref, `VOI_${name}.hv`), { dims, data: mask });
}

/** The demo's stand-in for measured data: the reference blurred with this separable kernel on each axis. */
export const DEMO_KERNEL = [0.15, 0.7, 0.15] as const;

/** Blurs a volume with {@link DEMO_KERNEL} along x, y and z (edges repeat the border voxel). */
export function demoBlur(dims: readonly number[], image: Float32Array): Float32Array {
  const [nx = 1, ny = 1, nz = 1] = dims;
  let a = image;
  for (const [stride, n] of [
    [1, nx],
    [nx, ny],
    [nx * ny, nz],
  ] as const) {
    const b = new Float32Array(a.length);
    for (let i = 0; i < a.length; i++) {
      const c = Math.floor(i / stride) % n;
      b[i] =
        DEMO_KERNEL[0] * (c > 0 ? a[i - stride]! : a[i]!) +
        DEMO_KERNEL[1] * a[i]! +
        DEMO_KERNEL[2] * (c < n - 1 ? a[i + stride]! : a[i]!);
    }
    a = b;
  }
  return a;
}

/**
 * A demo dataset: the phantom as a PETRIC dataset plus `measured.hv` (the reference blurred with
 * {@link DEMO_KERNEL}), which the demo submissions deconvolve.
 */
export async function writeDemoDataset(dir: string, phantom: Phantom): Promise<void> {
  await writePhantomDataset(dir, phantom);
  await writeInterfile(join(dir, 'measured.hv'), {
    dims: phantom.dims,
    data: demoBlur(phantom.dims, phantom.reference),
  });
}
