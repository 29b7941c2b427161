// Scores a trained model on the held-out rows: accuracy as a metric and as a step output.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { predict, readCsv, writeJson } from './lib.mjs';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    data: { type: 'string' },
    dataset: { type: 'string' },
    out: { type: 'string' },
  },
});
const model = JSON.parse(readFileSync(values.model, 'utf8'));
const rows = readCsv(values.data);
const correct = rows.filter((row) => (predict(model, row) >= 0.5 ? 1 : 0) === row[2]).length;
const accuracy = correct / rows.length;

writeJson(values.out, {
  dataset: values.dataset,
  accuracy,
  correct,
  samples: rows.length,
  trainLoss: model.loss,
  device: model.device,
});
console.log(`${values.dataset}: ${correct}/${rows.length} correct`);
console.log(`::metric accuracy=${accuracy.toFixed(4)}`);
console.log(`::output accuracy=${accuracy.toFixed(4)}`);
