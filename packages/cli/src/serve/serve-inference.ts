import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from '@commander-js/extra-typings';
import { InferenceServer, type ProviderName } from '@beamline/plugin-inference';
import type { CliContext } from '../cli-command.js';
import { CliError } from '../cli-error.js';
import { ExitCode } from '../cli-io.js';

const NOTES = `
The repository is Triton's layout: <repository>/<model>/<version>/model.onnx, with an optional
config.pbtxt or config.json per model (auto-completed from the model when absent).
Endpoints: the Open Inference Protocol (KServe V2) over HTTP with Triton's extensions, gRPC
inference.GRPCInferenceService, Prometheus metrics with Triton's names on /metrics. A port of 0 picks
a free one; 'off' turns a frontend off.
Ctrl-C or SIGTERM: not ready at once, requests in flight finish (up to --exit-timeout-secs), then exit.
Exit codes: 0 stopped cleanly, 1 could not start, 2 bad flags or repository.`;

function port(value: string): number | false {
  if (value === 'off') return false;
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed > 65_535)
    throw new InvalidArgumentError("expected a port number from 0 to 65535, or 'off'.");
  return parsed;
}

function seconds(value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value)) throw new InvalidArgumentError('expected a number of seconds.');
  return Number(value);
}

function bool(value: string): boolean {
  if (value !== 'true' && value !== 'false') throw new InvalidArgumentError('expected true or false.');
  return value === 'true';
}

function milliseconds(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new InvalidArgumentError('expected a whole number of milliseconds, at least 1.');
  return Number(value);
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

const PROVIDERS = ['tensorrt', 'cuda', 'webgpu', 'cpu'];

function providers(value: string): ProviderName[] {
  const list = value.split(',').map((name) => name.trim());
  const unknown = list.find((name) => !PROVIDERS.includes(name));
  if (unknown !== undefined)
    throw new InvalidArgumentError(`unknown provider '${unknown}' (expected ${PROVIDERS.join(', ')}).`);
  return list as ProviderName[];
}

/** `beamline serve inference`: the model server of @beamline/plugin-inference, with Triton's flags and ports. */
export function addServeInference(serve: Command, { io, exit }: CliContext): void {
  serve
    .command('inference')
    .summary('serve ONNX models over the Open Inference Protocol (Triton-compatible)')
    .description(
      'Serves the ONNX models of a model repository over HTTP (KServe V2 with binary tensors), gRPC and ' +
        'Prometheus metrics, on the ports Triton uses, so Triton clients and perf_analyzer work.',
    )
    .requiredOption('--model-repository <dir>', 'the model repository folder')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--http-port <port>', 'HTTP port', port, 8000 as number | false)
    .option('--grpc-port <port>', 'gRPC port', port, 8001 as number | false)
    .option('--metrics-port <port>', 'Prometheus metrics port', port, 8002 as number | false)
    .option('--allow-gpu-metrics <bool>', 'nv_gpu_* metrics from nvidia-smi where installed', bool, true)
    .option('--metrics-interval-ms <ms>', 'how often the GPU metrics are read', milliseconds, 2000)
    .option(
      '--model-control-mode <mode>',
      'none (load all), explicit (load on request), poll (follow the folder)',
      'none',
    )
    .option('--load-model <name>', "with explicit: a model to load at start ('*' = all); repeatable", collect)
    .option('--repository-poll-secs <s>', 'with poll: seconds between rescans', seconds, 5)
    .option(
      '--execution-providers <list>',
      'providers tried in order for GPU instances (default tensorrt,cuda,cpu)',
      providers,
    )
    .option('--strict-providers', 'fail a load instead of falling back to the next provider')
    .option('--exit-timeout-secs <s>', 'longest wait for requests in flight at shutdown', seconds, 60)
    .addHelpText('after', NOTES)
    .action(async (options) => {
      const mode = options.modelControlMode;
      if (mode !== 'none' && mode !== 'explicit' && mode !== 'poll') {
        throw new CliError(
          'CLI_USAGE',
          `--model-control-mode: expected none, explicit or poll, got '${mode}'.`,
        );
      }
      if (options.loadModel !== undefined && mode !== 'explicit') {
        throw new CliError('CLI_USAGE', '--load-model needs --model-control-mode explicit.');
      }
      const repository = resolve(io.cwd, options.modelRepository);
      const info = await stat(repository).catch(() => undefined);
      if (!info?.isDirectory())
        throw new CliError('CLI_USAGE', `--model-repository: ${repository} is not a folder.`);
      if (mode !== 'none' && process.platform === 'linux' && io.env.MALLOC_MMAP_THRESHOLD_ === undefined) {
        // glibc raises its mmap threshold after a large free, so a reloaded model's weights land in
        // per-thread arenas that keep their pages: RSS grows with each reload of a large model.
        io.stderr.write(
          'note: MALLOC_MMAP_THRESHOLD_ is not set: with glibc defaults, each reload of a large model leaves about a megabyte per 25 MB of weights in this process; set MALLOC_MMAP_THRESHOLD_=1048576 in its environment to keep it flat\n',
        );
      }
      const server = new InferenceServer({
        repository,
        controlMode: mode,
        ...(options.loadModel && { loadModels: options.loadModel }),
        pollIntervalMs: options.repositoryPollSecs * 1000,
        ...(options.executionProviders && { executionProviders: options.executionProviders }),
        strictProviders: options.strictProviders === true,
        host: options.host,
        httpPort: options.httpPort,
        grpcPort: options.grpcPort,
        metricsPort: options.metricsPort,
        gpuMetrics: options.allowGpuMetrics && { intervalMs: options.metricsIntervalMs },
        exitTimeoutMs: options.exitTimeoutSecs * 1000,
        onReport: (level, message) => {
          if (level === 'info') io.stdout.write(`${message}\n`);
          else io.stderr.write(`${level}: ${message}\n`);
        },
      });
      const address = await server.start();
      try {
        const parts = [
          address.http && `HTTP ${address.http}`,
          address.grpc && `gRPC ${address.grpc}`,
          address.metrics && `metrics ${address.metrics}`,
        ].filter(Boolean);
        io.stdout.write(
          `serving ${repository}: ${parts.join(', ')}${server.ready ? '' : ' (not ready: a model failed to load)'}\n`,
        );
        if (!io.signal.aborted)
          await new Promise<void>((done) =>
            io.signal.addEventListener('abort', () => done(), { once: true }),
          );
        io.stderr.write(`stopping: requests in flight may finish (up to ${options.exitTimeoutSecs} s)\n`);
      } finally {
        await server.close();
      }
      exit(ExitCode.ok);
    });
}
