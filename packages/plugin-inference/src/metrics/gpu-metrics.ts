import { spawn, type ChildProcess } from 'node:child_process';

/** One GPU's reading; a field the driver does not report (`[N/A]`, `[Not Supported]`) is absent. */
export interface GpuSample {
  uuid: string;
  /** 0–1, as Triton's `nv_gpu_utilization`. */
  utilization?: number;
  memoryTotalBytes?: number;
  memoryUsedBytes?: number;
  powerWatts?: number;
  powerLimitWatts?: number;
}

/** Options of the GPU metrics (`nv_gpu_*`). */
export interface GpuMetricsOptions {
  /** How often `nvidia-smi` is asked; default 2000 ms (Triton's `--metrics-interval-ms`). */
  intervalMs?: number;
  /** How long one `nvidia-smi` call may take before it is killed; default 5000 ms. */
  timeoutMs?: number;
}

const FIELDS = ['uuid', 'utilization.gpu', 'memory.total', 'memory.used', 'power.draw', 'power.limit'];
const QUERY = [`--query-gpu=${FIELDS.join(',')}`, '--format=csv,noheader,nounits'];
const MIB = 1024 * 1024;
const OUTPUT_LIMIT = 1024 * 1024;

const numberOf = (field: string): number | undefined =>
  /^-?\d+(\.\d+)?$/.test(field) ? Number(field) : undefined;

/**
 * Reads `nvidia-smi --query-gpu=uuid,utilization.gpu,memory.total,memory.used,power.draw,power.limit
 * --format=csv,noheader,nounits` output: one line per GPU, memory in MiB, utilization in percent, power
 * in watts; `[N/A]`-like fields are left out. Throws on a line that does not have the six fields.
 */
export function parseNvidiaSmi(text: string): GpuSample[] {
  const samples: GpuSample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const fields = line.split(',').map((field) => field.trim());
    if (fields.length !== FIELDS.length || !fields[0]) {
      throw new Error(
        `unexpected nvidia-smi line ${JSON.stringify(line)}: expected ${FIELDS.length} fields (${FIELDS.join(', ')})`,
      );
    }
    const [uuid, utilization, total, used, power, limit] = fields as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const sample: GpuSample = { uuid };
    const set = (key: Exclude<keyof GpuSample, 'uuid'>, value: number | undefined, scale: number): void => {
      if (value !== undefined) sample[key] = value * scale;
    };
    set('utilization', numberOf(utilization), 0.01);
    set('memoryTotalBytes', numberOf(total), MIB);
    set('memoryUsedBytes', numberOf(used), MIB);
    set('powerWatts', numberOf(power), 1);
    set('powerLimitWatts', numberOf(limit), 1);
    samples.push(sample);
  }
  return samples;
}

type Report = (level: 'warning', message: string, details?: Record<string, unknown>) => void;

/**
 * Polls `nvidia-smi` (looked up on `PATH`) on an interval, never two calls at once. No `nvidia-smi`: no
 * GPUs and no error (polling stops). A call that fails or hangs (killed with its process group after
 * `timeoutMs`) clears the readings and is reported once, until a call succeeds again. Energy is the
 * integral of `power.draw` over the polls since the first one (joules), where Triton reads NVML's
 * energy counter.
 */
export class GpuMetricsPoller {
  private readings: GpuSample[] = [];
  private readonly energy = new Map<string, number>();
  private readonly lastPower = new Map<string, { at: number; watts: number }>();
  private timer: NodeJS.Timeout | undefined;
  private child: ChildProcess | undefined;
  private running: Promise<void> | undefined;
  private failing = false;
  private stopped = false;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;

  constructor(
    options: GpuMetricsOptions,
    private readonly report: Report,
  ) {
    this.intervalMs = options.intervalMs ?? 2000;
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  /** The last successful reading (empty without GPUs, without `nvidia-smi`, or after a failed call). */
  get gpus(): readonly GpuSample[] {
    return this.readings;
  }

  /** Joules used by a GPU since the first reading. */
  energyJoules(uuid: string): number {
    return this.energy.get(uuid) ?? 0;
  }

  /** Takes the first reading now, then one every interval. */
  start(): void {
    if (this.stopped || this.running) return;
    this.poll();
  }

  /** Stops polling; a running `nvidia-smi` is killed and waited for. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.killChild();
    await this.running;
  }

  private poll(): void {
    this.running = this.call().then((done) => {
      this.running = undefined;
      if (done || this.stopped) return;
      this.timer = setTimeout(() => this.poll(), this.intervalMs);
      this.timer.unref();
    });
  }

  private killChild(): void {
    const child = this.child;
    if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid, 'SIGKILL'); // the process group: a wrapper script's children too
    } catch {
      child.kill('SIGKILL');
    }
  }

  /** One call; resolves true when polling should end (no nvidia-smi on PATH). */
  private call(): Promise<boolean> {
    return new Promise((settle) => {
      let settled = false;
      const resolve = (done: boolean): void => {
        if (!settled) settle(done);
        settled = true;
      };
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      const child = spawn('nvidia-smi', QUERY, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      this.child = child;
      const timer = setTimeout(() => {
        timedOut = true;
        this.killChild();
      }, this.timeoutMs);
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        if (stdout.length < OUTPUT_LIMIT) stdout += chunk;
      });
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        if (stderr.length < 4096) stderr += chunk;
      });
      child.once('error', (error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') {
          stderr ||= error.message;
          return;
        }
        // not installed: no GPU metrics, no error, no further calls
        clearTimeout(timer);
        this.child = undefined;
        this.readings = [];
        resolve(true);
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        if (settled) return;
        this.child = undefined;
        if (this.stopped) return resolve(true);
        if (timedOut) this.fail(`nvidia-smi did not answer within ${this.timeoutMs} ms and was killed`);
        else if (code !== 0) {
          const why = stderr.trim().split('\n')[0] || stdout.trim().split('\n')[0] || '';
          this.fail(`nvidia-smi failed (${signal ?? `exit code ${code}`})${why ? `: ${why}` : ''}`);
        } else {
          try {
            this.record(parseNvidiaSmi(stdout));
          } catch (error) {
            this.fail((error as Error).message);
          }
        }
        resolve(false);
      });
    });
  }

  private record(samples: GpuSample[]): void {
    const now = performance.now();
    for (const sample of samples) {
      if (sample.powerWatts === undefined) continue;
      const last = this.lastPower.get(sample.uuid);
      if (last) {
        const joules = ((last.watts + sample.powerWatts) / 2) * ((now - last.at) / 1000);
        this.energy.set(sample.uuid, (this.energy.get(sample.uuid) ?? 0) + joules);
      } else this.energy.set(sample.uuid, this.energy.get(sample.uuid) ?? 0);
      this.lastPower.set(sample.uuid, { at: now, watts: sample.powerWatts });
    }
    this.readings = samples;
    this.failing = false;
  }

  private fail(message: string): void {
    this.readings = [];
    this.lastPower.clear();
    if (this.failing) return;
    this.failing = true;
    this.report('warning', `GPU metrics: ${message}; nv_gpu_* metrics are left out until it answers`);
  }
}
