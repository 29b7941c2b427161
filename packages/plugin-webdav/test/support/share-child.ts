/**
 * A share server in a process of its own, for tests and benchmarks (started by `start-share.ts`):
 * reads the shares configuration (JSON) from the file named by its first argument, listens on
 * 127.0.0.1 (a free port unless the configuration says otherwise), prints `LISTENING <url>` on stdout,
 * reports warnings on stderr, and stops cleanly on SIGTERM or SIGINT. With `SHARE_WORKERS=n` (n > 1) it
 * is the primary of a cluster of n workers (responses carry `X-Beamline-Worker`) and also prints
 * `WORKERS <pid> <pid> …` and each replacement worker's `WORKERS` line.
 */
import { readFileSync } from 'node:fs';
import { ShareCluster } from '../../src/cluster/share-cluster.js';
import { resolveShareConfig } from '../../src/config/resolve-share-config.js';
import { ShareServer } from '../../src/server/share-server.js';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: share-child.ts <config.json>\n');
  process.exit(2);
}
const config = resolveShareConfig(JSON.parse(readFileSync(file, 'utf8')) as unknown);
const workers = Number(process.env.SHARE_WORKERS ?? '1');
const listen = {
  host: config.listen?.host ?? '127.0.0.1',
  port: config.listen?.port ?? 0,
  ...(config.tls && { tls: config.tls }),
};
let close: (graceMs: number) => Promise<void>;
if (workers > 1) {
  const shares = await ShareCluster.start(config, { ...listen, workers, workerHeader: true });
  shares.server.events.on('warning', (warning) => {
    process.stderr.write(`warning: ${warning.message}\n`);
  });
  shares.events.on('worker', () => {
    process.stdout.write(
      `WORKERS ${shares
        .workers()
        .map((worker) => worker.pid)
        .join(' ')}\n`,
    );
  });
  process.stdout.write(
    `WORKERS ${shares
      .workers()
      .map((worker) => worker.pid)
      .join(' ')}\n`,
  );
  process.stdout.write(`LISTENING ${shares.url}\n`);
  close = (graceMs) => shares.close(graceMs);
} else {
  const server = await ShareServer.open(config);
  server.events.on('warning', (warning) => process.stderr.write(`warning: ${warning.message}\n`));
  const { url } = await server.listen(listen);
  process.stdout.write(`LISTENING ${url}\n`);
  close = (graceMs) => server.close(graceMs);
}
const stop = (): void => {
  void close(5_000).then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
// The parent (a test) went away without stopping us: stop, never linger as an orphan.
process.once('disconnect', stop);
