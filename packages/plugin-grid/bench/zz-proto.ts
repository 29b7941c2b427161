import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { lastValueFrom } from 'rxjs';
import { adler32Update, ADLER32_INIT, formatAdler32 } from '../src/checksums/adler32.js';
import { download } from '../src/download/downloader.js';
import { toGridFile } from '../src/model/grid-file.js';
import { startNginx } from '../test/support/nginx.js';
import { tempDir } from '../test/support/fixtures.js';
const MiB = 1024 * 1024; const SZ = 256 * MiB;
const root = tempDir('proto'); const data = join(root, 'data'); mkdirSync(data);
const names = Array.from({ length: 8 }, (_, i) => `f${i}.bin`);
for (const n of names) execFileSync('sh', ['-c', `head -c ${SZ} /dev/urandom > ${join(data, n)}; chmod 644 ${join(data, n)}`]);
const adl = new Map<string, string>();
for (const n of names) { let a = ADLER32_INIT; for await (const c of createReadStream(join(data, n), { highWaterMark: 4 * MiB })) a = adler32Update(a, c as Buffer); adl.set(n, formatAdler32(a)); }
const nginx = await startNginx({ dir: join(root, 'nginx'), dataDir: data });
const url = (n: string) => `http://127.0.0.1:${nginx.ports.replicas[0]}/${n}`;
const out = join(root, 'out');
const prep = async () => { rmSync(out, { recursive: true, force: true }); mkdirSync(out); execFileSync('sync'); for (const n of names) for await (const _ of createReadStream(join(data, n), { highWaterMark: 4 * MiB })) void _; };
const files = names.map((n) => ({ url: url(n), size: SZ, adler32: adl.get(n)! }));
const one = async () => { await lastValueFrom(download(files.map((f) => toGridFile(f)), { dest: out, parallel: 8, perHost: 8, credentials: { bearerToken: false } }), { defaultValue: undefined }); };
const two = async () => { await Promise.all([0, 1].map((k) => new Promise<void>((res, rej) => { const w = new Worker(new URL('./zz-proto-worker.ts', import.meta.url), { workerData: { files: files.filter((_, i) => i % 2 === k), dest: out } }); w.once('message', () => { void w.terminate(); res(); }); w.once('error', rej); }))); };
const curl = async () => { await Promise.all(names.map((n) => new Promise<void>((res, rej) => { const p = spawn('curl', ['-sSf', '-o', join(out, n), url(n)], { stdio: 'ignore' }); p.once('exit', (c) => (c === 0 ? res() : rej(new Error('curl'))));}))); };
const t: Record<string, number[]> = { curl: [], one: [], two: [] };
try {
  for (let r = 0; r < 4; r++) for (const [k, fn] of [['curl', curl], ['one', one], ['two', two]] as const) { await prep(); const t0 = performance.now(); await fn(); t[k]!.push(8 * SZ / ((performance.now() - t0) / 1000) / 1e6); }
  for (const k of Object.keys(t)) console.log(k, t[k]!.map((x) => x.toFixed(0)).join(' '));
} finally { await nginx.stop(); rmSync(root, { recursive: true, force: true }); }
