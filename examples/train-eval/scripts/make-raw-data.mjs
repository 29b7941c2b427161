// Generates the example's "raw detector data": a synthetic two-class dataset (moons, blobs or circles)
// with a fixed seed, written to grid-storage/raw/<dataset>.csv, the files the demo's loopback grid
// storage serves. Run once per dataset (the files are committed):
//   node scripts/make-raw-data.mjs --dataset=moons --out=grid-storage/raw
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gaussian, hashString, seededRandom, writeCsv } from './lib.mjs';

const { values } = parseArgs({
  options: {
    dataset: { type: 'string' },
    samples: { type: 'string', default: '800' },
    seed: { type: 'string', default: '7' },
    noise: { type: 'string', default: '0.15' },
    out: { type: 'string' },
  },
});
const dataset = values.dataset;
const samples = Number(values.samples);
const noise = Number(values.noise);
const random = seededRandom(Number(values.seed) ^ hashString(dataset));

const generators = {
  // Two interleaving half circles.
  moons(i, label) {
    const angle = Math.PI * random();
    return label === 0 ? [Math.cos(angle), Math.sin(angle)] : [1 - Math.cos(angle), 0.5 - Math.sin(angle)];
  },
  // Two Gaussian clusters.
  blobs(i, label) {
    return label === 0
      ? [-1 + gaussian(random) * 0.6, -1 + gaussian(random) * 0.6]
      : [1 + gaussian(random) * 0.6, 1 + gaussian(random) * 0.6];
  },
  // A disc inside a ring.
  circles(i, label) {
    const angle = 2 * Math.PI * random();
    const radius = label === 0 ? 0.5 : 1;
    return [radius * Math.cos(angle), radius * Math.sin(angle)];
  },
};
const generate = generators[dataset];
if (!generate) {
  console.error(`unknown dataset '${dataset}'; known: ${Object.keys(generators).join(', ')}`);
  process.exit(2);
}

const rows = [];
for (let i = 0; i < samples; i++) {
  const label = i % 2;
  const [x, y] = generate(i, label);
  rows.push([x + gaussian(random) * noise, y + gaussian(random) * noise, label]);
  if ((i + 1) % Math.ceil(samples / 4) === 0 || i + 1 === samples)
    console.log(`::progress ${i + 1}/${samples} samples`);
}
writeCsv(join(values.out, `${dataset}.csv`), rows);
console.log(`${dataset}: ${rows.length} rows`);
