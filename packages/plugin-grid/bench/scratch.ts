import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, Pool, request } from 'undici';
import { HashWorkerPool, localHasher } from '../src/checksums/hash-worker.js';
import { pumpBody } from '../src/transport/body-writer.js';
import { startNginx } from '../test/support/nginx.js';
import { tempDir } from '../test/support/fixtures.js';
const MiB = 1 << 20;
const root = tempDir('scratch');
const data = join(root, 'data');
mkdirSync(data);
const N = Number(process.env.N ?? 8), SZ = Number(process.env.SZ ?? 64) * MiB;
const names = Array.from({ length: N }, (_, i) => `f${i}.bin`);
for (const n of names) execFileSync('sh', ['-c', `head -c ${SZ} /dev/urandom > ${join(data, n)} && chmod 644 ${join(data, n)}`]);
const nginx = await startNginx({ dir: join(root, 'nginx'), dataDir: data });
const port = nginx.ports.replicas[0];
const out = join(root, 'out');
mkdirSync(out);
const pool = new HashWorkerPool();
type Mode = 'read' | 'data-events' | 'write' | 'whash' | 'lhash' | 'whash+sync' | 'whash+final' | 'whash+sync256';
async function one(agent: Agent, n: string, mode: Mode, hwm: number) {
  const res = await agent.request({ origin: `http://127.0.0.1:${port}`, path: `/${n}`, method: 'GET', highWaterMark: hwm });
  if (mode === 'read') { for await (const c of res.body) void c; return; }
  if (mode === 'data-events') { await new Promise<void>((r, j) => { res.body.on('data', () => {}); res.body.on('end', r); res.body.on('error', j); }); return; }
  const fh = await open(join(out, n), 'w');
  try {
    const hasher = mode.startsWith('whash') ? pool.create(join(out, n), new Set(['adler32'])) : mode === 'lhash' ? localHasher(join(out, n), new Set(['adler32'])) : undefined;
    await pumpBody(res.body, { fh, position: 0, ...(hasher && { hasher }), onData: () => {}, ...(mode.startsWith('whash+sync') && { checkpointBytes: mode === 'whash+sync256' ? 256 * MiB : 64 * MiB, checkpoint: async () => {} }) });
    if (hasher) await hasher.digest();
    if (mode.startsWith('whash+')) await fh.datasync();
  } finally { await fh.close(); }
}
const modes = (process.env.MODES ?? 'read,data-events,write,lhash,whash,whash+sync').split(',') as Mode[];
const hwm = Number(process.env.HWM ?? MiB);
const res: Record<string, number[]> = {};
const cpu: Record<string, string[]> = {};
for (let r = 0; r < Number(process.env.R ?? 3); r++) for (const m of modes) {
  rmSync(out, { recursive: true, force: true }); mkdirSync(out); execFileSync('sync');
  const agent = new Agent({ connections: N });
  const t = performance.now();
  const c0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  await Promise.all(names.map((n) => one(agent, n, m, hwm)));
  const dt = (performance.now() - t) / 1000;
  const c = process.cpuUsage(c0);
  const elu = performance.eventLoopUtilization(elu0);
  (cpu[m] ??= []).push(`u${(c.user / 1e6 / (N * SZ / 1e9)).toFixed(2)}+s${(c.system / 1e6 / (N * SZ / 1e9)).toFixed(2)} main${(elu.active / 1e3 / (N * SZ / 1e9)).toFixed(2)}`);
  await agent.close();
  (res[m] ??= []).push((N * SZ) / dt / 1e6);
}
for (const [m, v] of Object.entries(res)) console.log(m.padEnd(14), v.map((x) => x.toFixed(0)).join(' '), 'MB/s   cpu s/GB', cpu[m]!.join(' '));
await pool.close();
await nginx.stop();
rmSync(root, { recursive: true, force: true });
