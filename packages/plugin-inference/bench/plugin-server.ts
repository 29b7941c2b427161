import { pathToFileURL } from 'node:url';
import type * as Plugin from '../src/index.js';

// The plugin's server in a process of its own, as the minimal server is: the built package (what users
// run; `bench/run.ts` builds it first) named by PLUGIN_ENTRY, else the sources through tsx.
const entry = process.env.PLUGIN_ENTRY ? pathToFileURL(process.env.PLUGIN_ENTRY).href : '../src/index.js';
const { InferenceServer } = (await import(entry)) as typeof Plugin;
const server = new InferenceServer({
  repository: process.argv[2]!,
  controlMode: 'explicit',
  loadModels: ['*'],
  httpPort: 0,
  grpcPort: 0,
  metricsPort: false,
  cpus: Number(process.argv[3] ?? 1),
  maxQueueSize: 0,
});
const address = await server.start();
console.log(`READY ${address.http} ${address.grpc}`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
