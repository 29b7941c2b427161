// Benchmarks the artifact share of the distributed mode, in one script, rounds interleaved, medians:
//   npm run bench:artifacts    (in packages/plugin-postgres; BENCH_ARTIFACT_MB, BENCH_ROUNDS)
// - beamline: ArtifactShare.upload (hash the file, PUT it while hashing again) and .download (GET into a
//   temporary file while hashing, verify, fsync, rename) against a plugin-webdav share with a bearer token;
// - raw client: a plain streamed PUT / GET (no hashing, no verification, no fsync) against the same share:
//   the ratio beamline / raw is the client's cost (what the verification costs);
// - plain server: the same raw client against a bare HTTP file server (no WebDAV): the floor, so that
//   raw / plain shows what the share server itself costs.
// Both servers run in this process on 127.0.0.1; MB/s of the file's size.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import http from 'node:http';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { hashToken, resolveShareConfig, ShareServer } from '@beamline/plugin-webdav';
import { ArtifactShare } from '../src/artifacts/artifact-share.js';

const MB = Number(process.env.BENCH_ARTIFACT_MB ?? 64);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TOKEN = 'bench-token-0123456789abcdef0123456789abcdef';

const scratch = mkdtempSync(path.join(tmpdir(), 'beamline-bench-artifacts-'));

/** The floor: a plain HTTP server keeping PUT bodies as files and serving them back. */
async function plainServer(root: string): Promise<{ url: string; close: () => Promise<void> }> {
  mkdirSync(root);
  const server = http.createServer((request, response) => {
    if (request.headers.authorization !== `Bearer ${TOKEN}`) {
      response.writeHead(401).end();
      return;
    }
    const file = path.join(root, path.basename(request.url ?? 'x'));
    if (request.method === 'PUT') {
      const temporary = `${file}.part`;
      pipeline(request, createWriteStream(temporary))
        .then(() => rename(temporary, file))
        .then(
          () => response.writeHead(201).end(),
          () => response.writeHead(500).end(),
        );
      return;
    }
    const stream = createReadStream(file);
    stream.once('open', () => response.writeHead(200));
    stream.once('error', () => response.writeHead(404).end());
    stream.pipe(response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function plainRequest(method: 'PUT' | 'GET', url: string, file: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, {
      method,
      agent: false,
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    request.once('error', reject);
    request.once('response', (response) => {
      if (method === 'PUT') {
        response.resume();
        response.once('end', resolve);
      } else {
        pipeline(response, createWriteStream(file)).then(resolve, reject);
      }
    });
    if (method === 'PUT') pipeline(createReadStream(file), request).catch(reject);
    else request.end();
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  const load = loadavg()[0]!;
  const data = randomBytes(MB * 1024 * 1024);
  const source = path.join(scratch, 'source.bin');
  writeFileSync(source, data);
  const digest = { sha256: createHash('sha256').update(data).digest('hex'), size: data.length };

  const shareRoot = path.join(scratch, 'share');
  mkdirSync(shareRoot);
  const webdav = await ShareServer.open(
    resolveShareConfig({
      stateDir: path.join(scratch, 'state'),
      tokens: { bench: { sha256: hashToken(TOKEN) } },
      shares: [{ path: '/beamline', root: shareRoot, read: ['bench'], write: ['bench'] }],
    }),
  );
  const { url } = await webdav.listen({ host: '127.0.0.1', port: 0 });
  const share = ArtifactShare.open({ share: `${url.replace(/\/$/, '')}/beamline/`, token: TOKEN });
  const plain = await plainServer(path.join(scratch, 'plain'));

  const rows: Record<string, number[]> = {
    beamlineUp: [],
    beamlineDown: [],
    rawUp: [],
    rawDown: [],
    plainUp: [],
    plainDown: [],
  };
  const rate = (ms: number): number => MB / (ms / 1000);
  for (let round = 0; round < ROUNDS; round++) {
    const tools = ['beamline', 'raw', 'plain'];
    const order = [...tools.slice(round % 3), ...tools.slice(0, round % 3)];
    for (const tool of order) {
      const back = path.join(scratch, `back-${tool}-${round}.bin`);
      if (tool === 'beamline') {
        let start = performance.now();
        await share.upload(source, digest, 'bench file');
        rows.beamlineUp!.push(rate(performance.now() - start));
        start = performance.now();
        await share.download(digest, back, 'bench file');
        rows.beamlineDown!.push(rate(performance.now() - start));
      } else if (tool === 'raw') {
        let start = performance.now();
        await plainRequest('PUT', `${share.url}${digest.sha256}`, source);
        rows.rawUp!.push(rate(performance.now() - start));
        start = performance.now();
        await plainRequest('GET', `${share.url}${digest.sha256}`, back);
        rows.rawDown!.push(rate(performance.now() - start));
      } else {
        let start = performance.now();
        await plainRequest('PUT', `${plain.url}${digest.sha256}`, source);
        rows.plainUp!.push(rate(performance.now() - start));
        start = performance.now();
        await plainRequest('GET', `${plain.url}${digest.sha256}`, back);
        rows.plainDown!.push(rate(performance.now() - start));
      }
      rmSync(back, { force: true });
    }
  }
  await webdav.close(5_000);
  await plain.close();

  const result = {
    date: new Date().toISOString(),
    machine: `${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    loadAtStart: Number(load.toFixed(1)),
    loadAtEnd: Number(loadavg()[0]!.toFixed(1)),
    fileMb: MB,
    rounds: ROUNDS,
    uploadMbPerS: {
      beamline: median(rows.beamlineUp!),
      raw: median(rows.rawUp!),
      plain: median(rows.plainUp!),
    },
    downloadMbPerS: {
      beamline: median(rows.beamlineDown!),
      raw: median(rows.rawDown!),
      plain: median(rows.plainDown!),
    },
  };
  const ratio = (a: number, b: number): string => (a / b).toFixed(2);
  console.log(JSON.stringify(result, null, 2));
  for (const [what, row] of [
    ['upload', result.uploadMbPerS],
    ['download', result.downloadMbPerS],
  ] as const) {
    console.log(
      `${what}: beamline ${row.beamline.toFixed(0)} MB/s, raw client ${row.raw.toFixed(0)} (beamline/raw ${ratio(row.beamline, row.raw)}x), plain server ${row.plain.toFixed(0)} (raw/plain ${ratio(row.raw, row.plain)}x)`,
    );
  }
  mkdirSync(new URL('../bench-results/', import.meta.url), { recursive: true });
  writeFileSync(
    new URL('../bench-results/artifacts.json', import.meta.url),
    `${JSON.stringify(result, null, 2)}\n`,
  );
}

try {
  await main();
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
