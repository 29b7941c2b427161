// Helpers shared by the demo's step scripts: a seeded random generator and a tiny CSV reader/writer.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** mulberry32: a small seeded PRNG, so the same seed gives the same dataset on every machine. */
export function seededRandom(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A stable number for a string (FNV-1a), to derive one seed per dataset name. */
export function hashString(text) {
  let hash = 0x811c9dc5;
  for (const char of text) {
    hash ^= char.codePointAt(0);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** Standard normal samples (Box–Muller). */
export function gaussian(random) {
  const u = Math.max(random(), Number.EPSILON);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** Writes rows of `x,y,label`. */
export function writeCsv(path, rows) {
  mkdirSync(dirname(path), { recursive: true });
  const lines = ['x,y,label', ...rows.map(([x, y, label]) => `${x.toFixed(6)},${y.toFixed(6)},${label}`)];
  writeFileSync(path, `${lines.join('\n')}\n`);
}

/** Reads rows written by `writeCsv`. */
export function readCsv(path) {
  const [, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  return lines.map((line) => line.split(',').map(Number));
}

/** Writes JSON, creating the folder. */
export function writeJson(path, value) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Degree-2 features of a point: what lets a linear model separate circles and moons. */
export function features([x, y]) {
  return [x, y, x * x, y * y, x * y];
}

export function sigmoid(z) {
  return 1 / (1 + Math.exp(-z));
}

/** The model's probability for one row. */
export function predict(model, row) {
  const f = features(row).map((value, i) => (value - model.mean[i]) / model.std[i]);
  return sigmoid(f.reduce((sum, value, i) => sum + value * model.weights[i], model.bias));
}
