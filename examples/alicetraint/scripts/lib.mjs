// Shared helpers of the stand-in stage scripts: the task's settings, a PNG writer, an ONNX writer.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

/** The particle species of PIDML, in the order of the six model names the web interface needs. */
export const SPECIES = [
  { name: 'kaon', mass: 0.4937, charge: 1 },
  { name: 'antikaon', mass: 0.4937, charge: -1 },
  { name: 'proton', mass: 0.9383, charge: 1 },
  { name: 'antiproton', mass: 0.9383, charge: -1 },
  { name: 'pion', mass: 0.1396, charge: 1 },
  { name: 'antipion', mass: 0.1396, charge: -1 },
];
export const FEATURES = ['p', 'eta', 'charge', 'tpc_signal', 'tof_beta'];

/** The task's `train.json` (its Configuration); `standin` holds test knobs (fail a stage, slow one down). */
export function taskConfig() {
  return existsSync('train.json') ? (JSON.parse(readFileSync('train.json', 'utf8')) ?? {}) : {};
}

/** Applies the test knobs for a stage: `standin.sleepMs.<stage>` then `standin.fail: <stage>`. */
export async function standinKnobs(stage) {
  // Who writes the task's files (in a container: the agent's uid, never root).
  console.log(`${stage}: running as uid ${process.getuid()} gid ${process.getgid()}`);
  const knobs = taskConfig().standin ?? {};
  // `standin.tryWrite: [path, …]`: reports whether each file can be created (a container's read-only mounts).
  for (const path of knobs.tryWrite?.[stage] ?? []) {
    try {
      writeFileSync(path, 'probe\n', { flag: 'wx' });
      console.log(`${stage}: write ${path}: allowed`);
    } catch (error) {
      console.log(`${stage}: write ${path}: refused (${error.code})`);
    }
  }
  const ms = knobs.sleepMs?.[stage];
  if (ms) {
    console.log(`${stage}: sleeping ${ms} ms (standin.sleepMs)`);
    await new Promise((r) => setTimeout(r, ms));
  }
  if (knobs.fail === stage) {
    console.error(`${stage}: failing as the task's configuration asks (standin.fail)`);
    process.exit(3);
  }
}

/** Reads `p,eta,charge,tpc_signal,tof_beta,label` CSV rows. */
export function readCsv(path) {
  const lines = readFileSync(path, 'utf8').trim().split('\n').slice(1);
  return lines.filter(Boolean).map((line) => line.split(',').map(Number));
}

// PNG: 8-bit RGB, one IDAT, filter 0 per row.
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
/** A bar chart of `values` (one bar each) as a PNG. */
export function barChartPng(values, { width = 320, height = 200, color = [40, 90, 200] } = {}) {
  const max = Math.max(...values.map(Math.abs), 1e-12);
  const rows = [];
  const bar = Math.max(1, Math.floor(width / Math.max(1, values.length)));
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3, 255);
    row[0] = 0;
    for (let x = 0; x < width; x++) {
      const i = Math.floor(x / bar);
      const h = i < values.length ? Math.round((Math.abs(values[i]) / max) * (height - 10)) : 0;
      if (height - y <= h && x % bar !== bar - 1) row.set(color, 1 + x * 3);
      if (y === height - 1) row.set([0, 0, 0], 1 + x * 3);
    }
    rows.push(row);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Counts of `values` in `bins` equal bins between their min and max. */
export function histogram(values, bins = 40) {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const counts = new Array(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.floor(((v - lo) / (hi - lo || 1)) * bins))]++;
  return counts;
}

// ONNX (protobuf, hand-encoded): ModelProto with one graph, input [N, F] float → MatMul → Add → Sigmoid.
function varint(n) {
  const out = [];
  let v = BigInt(n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Buffer.from(out);
}
const field = (no, wire) => varint((no << 3) | wire);
const int = (no, n) => Buffer.concat([field(no, 0), varint(n)]);
const bytes = (no, buf) => Buffer.concat([field(no, 2), varint(buf.length), buf]);
const str = (no, s) => bytes(no, Buffer.from(s, 'utf8'));
const msg = (no, ...parts) => bytes(no, Buffer.concat(parts));

function tensor(name, dims, values) {
  const raw = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => raw.writeFloatLE(v, i * 4));
  // TensorProto: dims=1, data_type=2 (1 = FLOAT), name=8, raw_data=9
  return Buffer.concat([...dims.map((d) => int(1, d)), int(2, 1), str(8, name), bytes(9, raw)]);
}
function valueInfo(no, name, dims) {
  // ValueInfoProto{name=1, type=2: TypeProto{tensor_type=1: {elem_type=1, shape=2: {dim=1: {dim_value=1 | dim_param=2}}}}}
  const shape = Buffer.concat(dims.map((d) => msg(1, typeof d === 'string' ? str(2, d) : int(1, d))));
  return msg(no, str(1, name), msg(2, msg(1, int(1, 1), msg(2, shape))));
}
function node(inputs, output, name, op) {
  return msg(1, ...inputs.map((i) => str(1, i)), str(2, output), str(3, name), str(4, op));
}
/** A logistic-regression model `sigmoid(input · W + B)` as ONNX bytes (IR 8, opset 13). */
export function logisticOnnx(weights, bias, graphName) {
  const f = weights.length;
  const graph = Buffer.concat([
    node(['input', 'W'], 'logit_raw', 'matmul', 'MatMul'),
    node(['logit_raw', 'B'], 'logit', 'add', 'Add'),
    node(['logit'], 'probability', 'sigmoid', 'Sigmoid'),
    str(2, graphName),
    msg(5, tensor('W', [f, 1], weights)),
    msg(5, tensor('B', [1], [bias])),
    valueInfo(11, 'input', ['N', f]),
    valueInfo(12, 'probability', ['N', 1]),
  ]);
  return Buffer.concat([
    int(1, 8),
    str(2, 'beamline-alicetraint-standin'),
    str(3, '0.1.0'),
    bytes(7, graph),
    msg(8, str(1, ''), int(2, 13)),
  ]);
}
