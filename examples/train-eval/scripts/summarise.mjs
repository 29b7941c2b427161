// Collects every evaluation into report.md (a table people read) and report.json (for programs).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeJson } from './lib.mjs';

const { values } = parseArgs({ options: { evaluations: { type: 'string' }, out: { type: 'string' } } });
// The pipeline passes the list of evaluation files (one per dataset) as JSON.
const paths = JSON.parse(values.evaluations);
const evaluations = paths.map((path) => JSON.parse(readFileSync(path, 'utf8')));
const mean = evaluations.reduce((sum, e) => sum + e.accuracy, 0) / evaluations.length;
const best = evaluations.reduce((a, b) => (b.accuracy > a.accuracy ? b : a));

const table = [
  '| dataset | accuracy | test rows | final training loss | device |',
  '| --- | ---: | ---: | ---: | --- |',
  ...evaluations.map(
    (e) =>
      `| ${e.dataset} | ${(e.accuracy * 100).toFixed(1)} % | ${e.samples} | ${e.trainLoss.toFixed(4)} | ${e.device} |`,
  ),
];
const report = [
  '# Train and evaluate',
  '',
  ...table,
  '',
  `Mean accuracy: ${(mean * 100).toFixed(1)} %; best: ${best.dataset}.`,
  '',
];
mkdirSync(values.out, { recursive: true });
writeFileSync(join(values.out, 'report.md'), report.join('\n'));
writeJson(join(values.out, 'report.json'), { meanAccuracy: mean, best: best.dataset, evaluations });
console.log(table.join('\n'));
console.log(`::metric mean_accuracy=${mean.toFixed(4)}`);
console.log(`::output best=${best.dataset}`);
