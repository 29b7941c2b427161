import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { FailureReason, StatDuration } from '../runtime/model-stats.js';
import type { GpuMetricsPoller, GpuSample } from './gpu-metrics.js';
import type { ModelVersion } from '../runtime/model-version.js';
import { listenHttp } from '../server/listen.js';

type Labels = { model: string; version: string };

const labelsOf = (version: ModelVersion): Labels => ({
  model: version.name,
  version: String(version.version),
});
const micros = (stat: StatDuration): number => Math.floor(stat.ns / 1000);

/**
 * Prometheus metrics with Triton's names and labels (`nv_inference_*` per `{model, version}`), read from
 * the same counters as `/stats` at scrape time, so the two always agree; the active execution provider
 * per version (`beamline_inference_execution_provider`), and the process metrics of `prom-client`.
 */
export class MetricsFrontend {
  readonly registry = new Registry();
  /** The GPU metrics: printed only while there is a reading (no HELP/TYPE lines without a GPU). */
  private readonly gpuRegistry = new Registry();
  private readonly server: Server;

  constructor(versions: () => readonly ModelVersion[], gpu?: GpuMetricsPoller) {
    const registers = [this.registry];
    const counter = (name: string, help: string, value: (version: ModelVersion) => number): void => {
      new Counter({
        name,
        help,
        labelNames: ['model', 'version'],
        registers,
        collect() {
          this.reset();
          for (const version of versions()) this.inc(labelsOf(version), value(version));
        },
      });
    };
    counter(
      'nv_inference_request_success',
      'Number of successful inference requests, all batch sizes',
      (v) => v.stats.inference.success.count,
    );
    new Counter({
      name: 'nv_inference_request_failure',
      help: 'Number of failed inference requests, all batch sizes',
      labelNames: ['model', 'version', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const version of versions()) {
          for (const [reason, count] of Object.entries(version.stats.failures) as [FailureReason, number][]) {
            this.inc({ ...labelsOf(version), reason }, count);
          }
        }
      },
    });
    counter(
      'nv_inference_count',
      'Number of inferences performed (does not include cached requests)',
      (v) => v.stats.inferenceCount,
    );
    counter(
      'nv_inference_exec_count',
      'Number of model executions performed (does not include cached requests)',
      (v) => v.stats.executionCount,
    );
    counter(
      'nv_inference_request_duration_us',
      'Cumulative inference request duration in microseconds (includes cached requests)',
      (v) => micros(v.stats.inference.success),
    );
    counter(
      'nv_inference_queue_duration_us',
      'Cumulative inference queuing duration in microseconds (includes cached requests)',
      (v) => micros(v.stats.inference.queue),
    );
    counter(
      'nv_inference_compute_input_duration_us',
      'Cumulative compute input duration in microseconds (does not include cached requests)',
      (v) => micros(v.stats.inference.compute_input),
    );
    counter(
      'nv_inference_compute_infer_duration_us',
      'Cumulative compute inference duration in microseconds (does not include cached requests)',
      (v) => micros(v.stats.inference.compute_infer),
    );
    counter(
      'nv_inference_compute_output_duration_us',
      'Cumulative inference compute output duration in microseconds (does not include cached requests)',
      (v) => micros(v.stats.inference.compute_output),
    );
    new Gauge({
      name: 'nv_inference_pending_request_count',
      help: 'Instantaneous number of pending requests awaiting execution per-model.',
      labelNames: ['model', 'version'],
      registers,
      collect() {
        this.reset();
        for (const version of versions()) this.set(labelsOf(version), version.pendingCount);
      },
    });
    new Gauge({
      name: 'beamline_inference_execution_provider',
      help: 'The onnxruntime execution provider serving each model version (1 for the active one).',
      labelNames: ['model', 'version', 'provider'],
      registers,
      collect() {
        this.reset();
        for (const version of versions()) this.set({ ...labelsOf(version), provider: version.provider }, 1);
      },
    });
    if (gpu) this.gpuMetrics(gpu);
    collectDefaultMetrics({ register: this.registry });
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== '/metrics') {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not Found\n');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { 'Content-Type': 'text/plain', Allow: 'GET, HEAD' }).end('Method Not Allowed\n');
        return;
      }
      const scrape = async (): Promise<string> => {
        const text = await this.registry.metrics();
        return gpu && gpu.gpus.length > 0 ? text + (await this.gpuRegistry.metrics()) : text;
      };
      scrape().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': this.registry.contentType });
          res.end(req.method === 'HEAD' ? undefined : text);
        },
        (error: unknown) => {
          res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${(error as Error).message}\n`);
        },
      );
    });
  }

  /** Triton's GPU gauges per `gpu_uuid`, from the poller's last reading (no lines without one). */
  private gpuMetrics(gpu: GpuMetricsPoller): void {
    const registers = [this.gpuRegistry];
    const gauge = (name: string, help: string, value: (sample: GpuSample) => number | undefined): void => {
      new Gauge({
        name,
        help,
        labelNames: ['gpu_uuid'],
        registers,
        collect() {
          this.reset();
          for (const sample of gpu.gpus) {
            const reading = value(sample);
            if (reading !== undefined) this.set({ gpu_uuid: sample.uuid }, reading);
          }
        },
      });
    };
    gauge('nv_gpu_utilization', 'GPU utilization rate [0.0 - 1.0)', (s) => s.utilization);
    gauge('nv_gpu_memory_total_bytes', 'GPU total memory, in bytes', (s) => s.memoryTotalBytes);
    gauge('nv_gpu_memory_used_bytes', 'GPU used memory, in bytes', (s) => s.memoryUsedBytes);
    gauge('nv_gpu_power_usage', 'GPU power usage in watts', (s) => s.powerWatts);
    gauge('nv_gpu_power_limit', 'GPU power management limit in watts', (s) => s.powerLimitWatts);
    new Counter({
      name: 'nv_energy_consumption',
      help: 'GPU energy consumption in joules since the Triton Server started',
      labelNames: ['gpu_uuid'],
      registers,
      collect() {
        this.reset();
        for (const sample of gpu.gpus) {
          if (sample.powerWatts !== undefined)
            this.inc({ gpu_uuid: sample.uuid }, gpu.energyJoules(sample.uuid));
        }
      },
    });
  }

  /** Listens; resolves with the metrics URL. */
  async listen(host: string, port: number): Promise<string> {
    return `${await listenHttp(this.server, host, port)}/metrics`;
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}
