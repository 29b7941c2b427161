// Runs the demo: serves grid-storage/ on loopback as the "storage element" the fetch step downloads
// from, then runs pipeline.yaml with the beamline program. When a Docker engine and the demo image are
// present, the packaging step runs in a container. Extra arguments go to `beamline run`.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { serveDirectory } from '@beamline/plugin-grid/testing';

const here = fileURLToPath(new URL('.', import.meta.url));
const port = Number(process.env.BEAMLINE_DEMO_GRID_PORT ?? 47801);
const image = process.env.BEAMLINE_DEMO_IMAGE ?? 'beamline-test/busybox:1.36';

let storage;
try {
  storage = await serveDirectory(`${here}grid-storage`, { port });
} catch (error) {
  console.error(
    `Cannot serve the demo's grid storage on 127.0.0.1:${port} (${error.message}); set BEAMLINE_DEMO_GRID_PORT to a free port.`,
  );
  process.exit(2);
}

const dockerReady =
  spawnSync('docker', ['image', 'inspect', image], { stdio: 'ignore', timeout: 10_000 }).status === 0;
const params = ['--param', `gridUrl=${storage.url}`];
if (dockerReady) params.push('--param', 'runner=docker', '--param', `image=${image}`);
else console.log(`(no Docker engine with ${image}: the packaging step runs locally)`);

const cli = fileURLToPath(new URL('../../packages/cli/dist/bin.js', import.meta.url));
const child = spawn(process.execPath, [cli, 'run', 'pipeline.yaml', ...params, ...process.argv.slice(2)], {
  cwd: here,
  stdio: 'inherit',
});
// Ctrl-C reaches the program through the terminal; keep serving until it has cancelled cleanly.
process.on('SIGINT', () => undefined);
child.on('exit', (code, signal) => {
  void storage.close().then(() => process.exit(code ?? (signal ? 130 : 1)));
});
