import { AEM_VOI_PREFIX } from './thresholds.js';

/** A voxel mask: a voxel belongs to it where the value is non-zero (numpy's `np.where(mask)`). */
export type Mask = ArrayLike<number>;

/** A dataset's reference image and volumes of interest, all with the same number of voxels. */
export interface Reference {
  image: ArrayLike<number>;
  wholeObject: Mask;
  background: Mask;
  /** Named volumes of interest (PETRIC's `VOI_<name>.hv` other than whole_object and background). */
  vois: ReadonlyMap<string, Mask> | Readonly<Record<string, Mask>>;
}

function indices(mask: Mask, length: number, what: string): Uint32Array {
  if (mask.length !== length)
    throw new Error(`${what} has ${mask.length} voxels, the reference image ${length}`);
  const out: number[] = [];
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) out.push(i);
  if (out.length === 0) throw new Error(`${what} selects no voxel`);
  return Uint32Array.from(out);
}

function mean(values: ArrayLike<number>, at: Uint32Array): number {
  let sum = 0;
  for (const i of at) sum += values[i]!;
  return sum / at.length;
}

function rmse(a: ArrayLike<number>, b: ArrayLike<number>, at: Uint32Array): number {
  let sum = 0;
  for (const i of at) {
    const d = a[i]! - b[i]!;
    sum += d * d;
  }
  return Math.sqrt(sum / at.length);
}

/**
 * PETRIC's `QualityMetrics.evaluate`: `RMSE_whole_object` and `RMSE_background` (root mean squared
 * error over the mask) and one `AEM_VOI_<name>` per VOI (absolute error of the VOI's mean, VOIs in
 * sorted order), each divided by the reference's mean over the background. Computed in float64.
 */
export class QualityMetrics {
  private readonly whole: Uint32Array;
  private readonly background: Uint32Array;
  private readonly vois: [string, Uint32Array, number][];
  private readonly reference: ArrayLike<number>;
  /** The reference's mean over the background: every metric is divided by it. */
  readonly norm: number;

  constructor(reference: Reference) {
    const n = reference.image.length;
    this.reference = reference.image;
    this.whole = indices(reference.wholeObject, n, 'the whole-object mask');
    this.background = indices(reference.background, n, 'the background mask');
    this.norm = mean(reference.image, this.background);
    if (!(this.norm > 0))
      throw new Error(`the reference's mean over the background is ${this.norm}, not positive`);
    const entries: [string, Mask][] =
      reference.vois instanceof Map
        ? [...(reference.vois as ReadonlyMap<string, Mask>)]
        : Object.entries(reference.vois as Readonly<Record<string, Mask>>);
    this.vois = entries
      .map(([name, mask]): [string, Uint32Array, number] => {
        const at = indices(mask, n, `VOI ${JSON.stringify(name)}`);
        return [name, at, mean(reference.image, at)];
      })
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** The metric tags, in the order {@link evaluate} returns them. */
  keys(): string[] {
    return ['RMSE_whole_object', 'RMSE_background', ...this.vois.map(([name]) => AEM_VOI_PREFIX + name)];
  }

  /** The metrics of one image (same voxel count as the reference). */
  evaluate(image: ArrayLike<number>): Map<string, number> {
    if (image.length !== this.reference.length) {
      throw new Error(`the image has ${image.length} voxels, the reference ${this.reference.length}`);
    }
    const out = new Map<string, number>([
      ['RMSE_whole_object', rmse(this.reference, image, this.whole) / this.norm],
      ['RMSE_background', rmse(this.reference, image, this.background) / this.norm],
    ]);
    for (const [name, at, refMean] of this.vois) {
      out.set(AEM_VOI_PREFIX + name, Math.abs(mean(image, at) - refMean) / this.norm);
    }
    return out;
  }
}
