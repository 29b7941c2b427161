// Stand-in for the `pdi` scripts (`pdi_scripts.py process|data-exploration|train|benchmark`): the same
// stages on the producer's tracks, with a real model (six one-vs-rest logistic regressions exported as
// ONNX under the names the web interface needs for CCDB) and real PNG plots.
// Runs in the task folder; writes plots and models under $ALICETRAINT_TASK_RESULTS_DIR.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  FEATURES,
  SPECIES,
  barChartPng,
  histogram,
  logisticOnnx,
  readCsv,
  standinKnobs,
  taskConfig,
} from './lib.mjs';

const stage = process.argv[2];
const results = process.env.ALICETRAINT_TASK_RESULTS_DIR;
if (!results) {
  console.error('ALICETRAINT_TASK_RESULTS_DIR is not set');
  process.exit(2);
}
const write = (path, data) => {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(`${path}.tmp`, data);
  renameSync(`${path}.tmp`, path);
};

switch (stage) {
  case 'process': {
    await standinKnobs('process');
    const rows = readFileSync('preprocessed_ao2ds.root', 'utf8').trim().split('\n');
    const [header, ...data] = rows;
    // Every fifth track is held out for the benchmark.
    write('processed/train.csv', [header, ...data.filter((_, i) => i % 5 !== 0)].join('\n') + '\n');
    write('processed/test.csv', [header, ...data.filter((_, i) => i % 5 === 0)].join('\n') + '\n');
    console.log(`process: ${data.length} tracks, ${Math.ceil(data.length / 5)} held out`);
    break;
  }
  case 'data-exploration': {
    await standinKnobs('data-exploration');
    const rows = readCsv('processed/train.csv');
    FEATURES.forEach((f, j) => {
      write(join(results, 'data-exploration', `${f}.png`), barChartPng(histogram(rows.map((r) => r[j]))));
    });
    const counts = SPECIES.map((_, k) => rows.filter((r) => r[5] === k).length);
    write(join(results, 'data-exploration', 'species.png'), barChartPng(counts, { color: [200, 90, 40] }));
    console.log(`data-exploration: ${FEATURES.length + 1} plots`);
    break;
  }
  case 'train': {
    await standinKnobs('train');
    const cfg = taskConfig();
    const epochs = Number(cfg.epochs ?? cfg.Epochs ?? 30);
    const lr = Number(cfg.learning_rate ?? cfg.learningRate ?? 0.5);
    const rows = readCsv('processed/train.csv');
    const n = FEATURES.length;
    const mean = FEATURES.map((_, j) => rows.reduce((s, r) => s + r[j], 0) / rows.length);
    const sd = FEATURES.map(
      (_, j) => Math.sqrt(rows.reduce((s, r) => s + (r[j] - mean[j]) ** 2, 0) / rows.length) || 1,
    );
    const xs = rows.map((r) => r.slice(0, n).map((v, j) => (v - mean[j]) / sd[j]));
    const models = {};
    for (const [k, species] of SPECIES.entries()) {
      const w = new Array(n).fill(0);
      let b = 0;
      let loss = 0;
      for (let epoch = 1; epoch <= epochs; epoch++) {
        const gw = new Array(n).fill(0);
        let gb = 0;
        loss = 0;
        xs.forEach((x, i) => {
          const y = rows[i][5] === k ? 1 : 0;
          const z = x.reduce((s, v, j) => s + v * w[j], b);
          const p = 1 / (1 + Math.exp(-z));
          loss -= y * Math.log(p + 1e-9) + (1 - y) * Math.log(1 - p + 1e-9);
          x.forEach((v, j) => (gw[j] += (p - y) * v));
          gb += p - y;
        });
        for (let j = 0; j < n; j++) w[j] -= (lr * gw[j]) / xs.length;
        b -= (lr * gb) / xs.length;
        loss /= xs.length;
        if (epoch % 10 === 0 || epoch === epochs)
          console.log(`::metric ${species.name}_loss=${loss.toFixed(5)} step=${epoch}`);
      }
      // Standardisation folded into the weights, so the model takes raw features.
      const wRaw = w.map((v, j) => v / sd[j]);
      const bRaw = b - w.reduce((s, v, j) => s + (v * mean[j]) / sd[j], 0);
      models[species.name] = { weights: wRaw, bias: bRaw, loss };
      write(
        join(results, 'models', `${species.name}.onnx`),
        logisticOnnx(wRaw, bRaw, `pidml_${species.name}`),
      );
    }
    write('model.json', JSON.stringify(models));
    console.log(`train: ${SPECIES.length} models, ${epochs} epochs, learning rate ${lr}`);
    break;
  }
  case 'benchmark': {
    await standinKnobs('benchmark');
    const models = JSON.parse(readFileSync('model.json', 'utf8'));
    const rows = readCsv('processed/test.csv');
    const efficiency = [];
    const purity = [];
    for (const [k, species] of SPECIES.entries()) {
      const { weights, bias } = models[species.name];
      let tp = 0,
        fp = 0,
        fn = 0;
      for (const r of rows) {
        const z = weights.reduce((s, w, j) => s + w * r[j], bias);
        const yes = z > 0;
        const truth = r[5] === k;
        if (yes && truth) tp++;
        else if (yes) fp++;
        else if (truth) fn++;
      }
      efficiency.push(tp / (tp + fn || 1));
      purity.push(tp / (tp + fp || 1));
      console.log(`::metric ${species.name}_efficiency=${efficiency[k].toFixed(4)}`);
      write(
        join(results, 'feature_importance', `${species.name}.png`),
        barChartPng(weights.map(Math.abs), { color: [60, 160, 60] }),
      );
    }
    write(join(results, 'benchmark', 'efficiency.png'), barChartPng(efficiency));
    write(join(results, 'benchmark', 'purity.png'), barChartPng(purity, { color: [150, 50, 150] }));
    console.log(`benchmark: ${rows.length} held-out tracks`);
    break;
  }
  default:
    console.error(
      `usage: pdi_scripts.mjs process|data-exploration|train|benchmark (got ${JSON.stringify(stage)})`,
    );
    process.exit(2);
}
