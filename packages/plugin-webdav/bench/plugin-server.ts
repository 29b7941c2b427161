/**
 * The plugin's WebDAV server in a process of its own for the benchmark (so its CPU and memory are its
 * own, not shared with the load generator): reads a shares configuration (JSON) from the file named by
 * its first argument, starts the server through `test/support/start-share.ts` on a loopback port,
 * prints `{"url": …, "pid": …}` on one line and serves until SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ShareConfigInput } from '../src/config/share-config.js';

interface StartShareModule {
  startShare: (config: ShareConfigInput) => Promise<{ url: string; stop: () => Promise<void>; pid?: number }>;
}

const file = process.argv[2];
if (!file) throw new Error('usage: plugin-server.ts <shares.json>');
const config = JSON.parse(readFileSync(file, 'utf8')) as ShareConfigInput;
const specifier = pathToFileURL(join(import.meta.dirname, '..', 'test', 'support', 'start-share.ts')).href;
const { startShare } = (await import(specifier)) as StartShareModule;
const server = await startShare(config);
process.stdout.write(`${JSON.stringify({ url: server.url, pid: server.pid ?? process.pid })}\n`);
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  server.stop().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
