// Splits one downloaded raw dataset (x,y,label rows) into train.csv and test.csv, 80/20, after a seeded
// shuffle so both halves hold both classes.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { hashString, readCsv, seededRandom, writeCsv } from './lib.mjs';

const { values } = parseArgs({
  options: {
    raw: { type: 'string' },
    seed: { type: 'string', default: '7' },
    out: { type: 'string' },
  },
});
const rows = readCsv(values.raw);
if (rows.length < 10) {
  console.error(`${values.raw}: only ${rows.length} rows; expected a raw dataset of x,y,label rows`);
  process.exit(2);
}
const random = seededRandom(Number(values.seed) ^ hashString(values.raw));
for (let i = rows.length - 1; i > 0; i--) {
  const j = Math.floor(random() * (i + 1));
  [rows[i], rows[j]] = [rows[j], rows[i]];
  if (i % 200 === 0) console.log(`::progress ${rows.length - i}/${rows.length} rows shuffled`);
}
const cut = Math.round(rows.length * 0.8);
writeCsv(join(values.out, 'train.csv'), rows.slice(0, cut));
writeCsv(join(values.out, 'test.csv'), rows.slice(cut));
console.log(`${values.raw}: ${cut} training rows, ${rows.length - cut} test rows`);
console.log(`::metric rows=${rows.length}`);
