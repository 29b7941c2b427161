// Fits a logistic regression on degree-2 features with plain full-batch gradient descent, reporting
// the loss per epoch as a metric and the epoch as progress, and writes model.json.
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { features, readCsv, sigmoid, writeJson } from './lib.mjs';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    epochs: { type: 'string', default: '40' },
    lr: { type: 'string', default: '0.5' },
    out: { type: 'string' },
    // Slows each epoch down a little so the live progress can be watched; 0 for full speed.
    'epoch-delay-ms': { type: 'string', default: '0' },
  },
});

// The step asked for one GPU with gpuOptional: the runner sets CUDA_VISIBLE_DEVICES to the granted id,
// or to nothing on a host without GPUs. This script computes on the CPU either way (plain Node.js);
// a PyTorch script would pick `cuda:0` here.
const gpus = (process.env.CUDA_VISIBLE_DEVICES ?? '').split(',').filter((id) => id.trim() !== '');
const device = gpus.length > 0 ? `gpu ${gpus.join(',')}` : 'cpu';
console.log(
  gpus.length > 0
    ? `device: GPU ${gpus.join(',')} granted (CUDA_VISIBLE_DEVICES=${process.env.CUDA_VISIBLE_DEVICES}); this demo's maths runs on the CPU`
    : 'device: cpu (no GPU on this host; the step asked for one with gpuOptional)',
);

const rows = readCsv(values.data);
const epochs = Number(values.epochs);
const lr = Number(values.lr);
const delayMs = Number(values['epoch-delay-ms']);

const raw = rows.map((row) => features(row));
const width = raw[0].length;
const mean = Array.from({ length: width }, (_, i) => raw.reduce((sum, f) => sum + f[i], 0) / raw.length);
const std = Array.from(
  { length: width },
  (_, i) => Math.sqrt(raw.reduce((sum, f) => sum + (f[i] - mean[i]) ** 2, 0) / raw.length) || 1,
);
const x = raw.map((f) => f.map((value, i) => (value - mean[i]) / std[i]));
const y = rows.map((row) => row[2]);

const weights = new Array(width).fill(0);
let bias = 0;
let loss = Number.NaN;
for (let epoch = 1; epoch <= epochs; epoch++) {
  const gradW = new Array(width).fill(0);
  let gradB = 0;
  loss = 0;
  for (let n = 0; n < x.length; n++) {
    const p = sigmoid(x[n].reduce((sum, value, i) => sum + value * weights[i], bias));
    const clipped = Math.min(Math.max(p, 1e-12), 1 - 1e-12);
    loss -= y[n] * Math.log(clipped) + (1 - y[n]) * Math.log(1 - clipped);
    for (let i = 0; i < width; i++) gradW[i] += (p - y[n]) * x[n][i];
    gradB += p - y[n];
  }
  loss /= x.length;
  for (let i = 0; i < width; i++) weights[i] -= (lr * gradW[i]) / x.length;
  bias -= (lr * gradB) / x.length;
  console.log(`::metric loss=${loss.toFixed(6)} step=${epoch}`);
  console.log(`::progress ${epoch}/${epochs} epoch ${epoch}`);
  if (delayMs > 0) await sleep(delayMs);
}

writeJson(values.out, {
  features: 'x,y,x²,y²,xy',
  weights,
  bias,
  mean,
  std,
  epochs,
  learningRate: lr,
  loss,
  device,
});
console.log(`trained ${epochs} epochs on ${rows.length} rows: loss ${loss.toFixed(4)}`);
console.log(`::output device=${device}`);
