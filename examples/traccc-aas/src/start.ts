import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceServer } from '@beamline/plugin-inference';
import { readEventCsv } from './events.js';
import { prepare } from './setup.js';
import { TracccClient } from './traccc-client.js';

// The example end to end: a model repository with traccc-gpu, the server on Triton's ports (or the
// ones in HTTP_PORT / GRPC_PORT / METRICS_PORT), ten events sent over gRPC and over HTTP.
const dir = await mkdtemp(join(tmpdir(), 'traccc-aas-'));
const port = (name: string, fallback: number): number =>
  process.env[name] ? Number(process.env[name]) : fallback;
const { repository, eventFiles } = await prepare(dir, 10, (i) => 2000 + 500 * i);
const server = new InferenceServer({
  repository,
  httpPort: port('HTTP_PORT', 8000),
  grpcPort: port('GRPC_PORT', 8001),
  metricsPort: port('METRICS_PORT', 8002),
  onReport: (level, message) => console.log(`[${level}] ${message}`),
});
const address = await server.start();
console.log(`serving traccc-gpu: HTTP ${address.http}, gRPC ${address.grpc}, metrics ${address.metrics}`);
try {
  for (const [label, target] of [
    ['gRPC', { grpc: address.grpc! }],
    ['HTTP', { http: address.http! }],
  ] as const) {
    const client = new TracccClient(target);
    const started = performance.now();
    let cells = 0;
    for (const file of eventFiles) {
      const event = await readEventCsv(file);
      const result = await client.reconstruct(event);
      if (result.geometryIds.length !== event.cells || result.geometryIds[0] !== event.positions[0]) {
        throw new Error(`${file}: the service returned other geometry ids than the event's`);
      }
      cells += event.cells;
    }
    client.close();
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `${label}: ${eventFiles.length} events, ${cells} cells in ${seconds.toFixed(2)} s (${(eventFiles.length / seconds).toFixed(1)} events/s)`,
    );
  }
} finally {
  await server.close();
  await rm(dir, { recursive: true, force: true });
}
