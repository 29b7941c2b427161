// Stand-in for `run-pidml-producer.sh` (O2Physics PIDML producer): reads every downloaded AO2D file
// named in the list, turns its bytes into tracks, and writes them to the preprocessed file.
// usage: node run-pidml-producer.mjs <local_list.txt> <preprocessed_ao2ds.root>
import { createReadStream, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { SPECIES, standinKnobs } from './lib.mjs';

const [list, out] = process.argv.slice(2);
if (!list || !out) {
  console.error('usage: run-pidml-producer.mjs <local_list.txt> <output>');
  process.exit(2);
}
await standinKnobs('producer');
const files = readFileSync(list, 'utf8').split('\n').filter(Boolean);
const rows = ['p,eta,charge,tpc_signal,tof_beta,label'];
let bytes = 0;
for (const [i, file] of files.entries()) {
  let carry = Buffer.alloc(0);
  for await (const piece of createReadStream(file)) {
    const buf = Buffer.concat([carry, piece]);
    bytes += piece.length;
    let o = 0;
    // One track per 8 bytes, at most 4,000 per file: enough to train on, small enough for tests.
    for (; o + 8 <= buf.length && rows.length < 4000 * (i + 1); o += 8) {
      const label = buf[o] % SPECIES.length;
      const { mass, charge } = SPECIES[label];
      const p = 0.2 + (buf[o + 1] / 255) * 2.8;
      const eta = ((buf[o + 2] - 128) / 128) * 0.9;
      const beta = p / Math.sqrt(p * p + mass * mass);
      // Bethe-Bloch-like energy loss, with a few per cent of resolution from the file's bytes.
      const tpc = (50 / (beta * beta)) * (1 + (buf[o + 3] - 128) / 2048);
      const tof = beta * (1 + (buf[o + 4] - 128) / 8192);
      rows.push([p, eta, charge, tpc, tof, label].map((v) => +v.toFixed(5)).join(','));
    }
    // Past this file's share of tracks the rest is only read (and counted), not kept.
    carry = rows.length < 4000 * (i + 1) ? buf.subarray(o) : Buffer.alloc(0);
  }
  console.log(`::progress ${i + 1}/${files.length} ${file}`);
}
writeFileSync(`${out}.tmp`, rows.join('\n') + '\n');
renameSync(`${out}.tmp`, out);
console.log(
  `producer: ${files.length} files, ${bytes} bytes read, ${rows.length - 1} tracks written to ${out}`,
);
console.log(`::output tracks=${rows.length - 1}`);
