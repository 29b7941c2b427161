import { InferenceServer } from '../src/index.js';

// The plugin's server in a process of its own, as the minimal server is.
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
