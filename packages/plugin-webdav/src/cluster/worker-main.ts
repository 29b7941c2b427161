/**
 * The entry point of a worker process of a {@link ShareCluster}: waits for the primary's `start`
 * message (the configuration and where to listen), opens a {@link ShareServer} as a worker (the
 * primary removed the leftovers), listens (Node's cluster shares the primary's socket), forwards its
 * access events in batches and its warnings, and stops on the primary's `stop` message or as soon as
 * the IPC channel closes (the primary died, even by `kill -9`): a worker never outlives its primary.
 */
import cluster from 'node:cluster';
import type { AccessEvent } from '../server/access-log.js';
import { ShareServer } from '../server/share-server.js';
import type { FromWorker, ToWorker } from './messages.js';

/** Access events are sent to the primary at most this often (one IPC message per batch). */
const ACCESS_FLUSH_MS = 50;
const ACCESS_BATCH = 500;

function send(message: FromWorker): void {
  if (process.connected) process.send?.(message);
}

if (cluster.isPrimary || !process.send) {
  process.stderr.write('worker-main: run by ShareCluster as a cluster worker only\n');
  process.exit(2);
}

let server: ShareServer | undefined;
let stopping = false;

async function stop(graceMs: number, code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  // A primary that died cannot be waited for: finish what is in flight, briefly, then go.
  const timer = setTimeout(() => process.exit(code), graceMs + 2_000);
  timer.unref();
  try {
    await server?.close(graceMs);
  } finally {
    flush();
    process.exit(code);
  }
}

let pending: AccessEvent[] = [];
let flushTimer: NodeJS.Timeout | undefined;

function flush(): void {
  if (flushTimer) clearTimeout(flushTimer);
  flushTimer = undefined;
  if (pending.length === 0) return;
  send({ type: 'access', events: pending });
  pending = [];
}

/** Sends the access events to the primary (batched), or builds none when it wants none. */
function onAccess(event: AccessEvent): void {
  pending.push({ ...event, pid: process.pid });
  if (pending.length >= ACCESS_BATCH) flush();
  else flushTimer ??= setTimeout(flush, ACCESS_FLUSH_MS);
}

function forwardAccess(on: boolean): void {
  server?.events.off('access', onAccess);
  if (on) server?.events.on('access', onAccess);
}

async function start(message: Extract<ToWorker, { type: 'start' }>): Promise<void> {
  try {
    server = await ShareServer.open(message.config, { worker: true });
    server.events.on('warning', (warning) => send({ type: 'warning', warning }));
    for (const warning of server.startupWarnings) send({ type: 'warning', warning });
    forwardAccess(message.access);
    const { url } = await server.listen({
      ...message.listen,
      ...(message.workerHeader && { responseHeaders: { 'X-Beamline-Worker': String(process.pid) } }),
    });
    send({ type: 'ready', url });
  } catch (error) {
    send({ type: 'failed', message: (error as Error).message });
    await stop(0, 1);
  }
}

process.on('message', (message: ToWorker) => {
  if (message.type === 'start') void start(message);
  else if (message.type === 'stop') void stop(message.graceMs, 0);
  else if (message.type === 'access') forwardAccess(message.on);
});
process.on('disconnect', () => void stop(5_000, 0));
send({ type: 'hello' });
// Ctrl-C in a terminal reaches the whole process group: the primary decides, the worker waits for it.
process.on('SIGINT', () => undefined);
// SIGTERM sent to this worker alone: it finishes its requests and exits (the primary replaces it).
process.on('SIGTERM', () => void stop(10_000, 0));
