import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { InferenceServer } from '../server/inference-server.js';
import { raw } from '../../test/support/http.js';
import { parseNvidiaSmi } from './gpu-metrics.js';

// What `nvidia-smi --query-gpu=uuid,utilization.gpu,memory.total,memory.used,power.draw,power.limit
// --format=csv,noheader,nounits` prints on a two-GPU machine (an H100 SXM and a card whose power
// readings the driver does not expose).
const SMI_OUTPUT =
  'GPU-5e3c2a1b-7f04-4d8e-9b61-2c0a8f3e7d91, 37, 81559, 1024, 69.12, 700.00\n' +
  'GPU-0b7d91e4-3a52-4f6c-8e20-9d1f4c6a2b83, 0, 15360, 0, [N/A], [N/A]\n';

const PATH = process.env.PATH ?? '';
const servers: InferenceServer[] = [];

afterEach(async () => {
  process.env.PATH = PATH;
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** A folder holding a fake `nvidia-smi` with this shell body, put first in PATH. */
async function fakeSmi(body: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'beamline-fake-smi-'));
  await writeFile(join(dir, 'nvidia-smi'), `#!/bin/sh\necho "$@" >> "${dir}/calls"\n${body}\n`);
  await chmod(join(dir, 'nvidia-smi'), 0o755);
  process.env.PATH = `${dir}:${PATH}`;
  return dir;
}

async function start(gpuMetrics: { intervalMs: number; timeoutMs?: number } | false) {
  const reports: string[] = [];
  const repository = await mkdtemp(join(tmpdir(), 'beamline-inference-gpu-'));
  const server = new InferenceServer({
    repository,
    httpPort: false,
    grpcPort: false,
    metricsPort: 0,
    gpuMetrics,
    onReport: (_level, message) => reports.push(message),
  });
  servers.push(server);
  const url = new URL((await server.start()).metrics!);
  const scrape = async () => {
    const reply = await raw(url.origin, 'GET', url.pathname);
    expect(reply.status).toBe(200);
    return reply.body.toString();
  };
  return { server, reports, scrape };
}

async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const calls = async (dir: string) =>
  (await readFile(join(dir, 'calls'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
/** The process has exited (a zombie waiting for an init that does not reap counts as gone). */
const gone = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
};

describe('nv_gpu_* metrics from nvidia-smi', () => {
  test('parses what nvidia-smi prints: MiB to bytes, percent to 0-1, [N/A] left out', () => {
    expect(parseNvidiaSmi(SMI_OUTPUT)).toEqual([
      {
        uuid: 'GPU-5e3c2a1b-7f04-4d8e-9b61-2c0a8f3e7d91',
        utilization: 0.37,
        memoryTotalBytes: 81559 * 2 ** 20,
        memoryUsedBytes: 1024 * 2 ** 20,
        powerWatts: 69.12,
        powerLimitWatts: 700,
      },
      {
        uuid: 'GPU-0b7d91e4-3a52-4f6c-8e20-9d1f4c6a2b83',
        utilization: 0,
        memoryTotalBytes: 15360 * 2 ** 20,
        memoryUsedBytes: 0,
      },
    ]);
    expect(() => parseNvidiaSmi('No devices were found, 1\n')).toThrow(/expected 6 fields/);
  });

  test("Triton's names and gpu_uuid label, in the form perf_analyzer parses, energy growing", async () => {
    const dir = await fakeSmi(`printf '${SMI_OUTPUT.replaceAll('\n', '\\n')}'`);
    const { scrape, reports } = await start({ intervalMs: 100 });
    const uuid = 'GPU-5e3c2a1b-7f04-4d8e-9b61-2c0a8f3e7d91';
    const read = (text: string, name: string, id = uuid): number | undefined => {
      // perf_analyzer's --collect-metrics pattern
      const match = new RegExp(`\\n${name}\\{gpu_uuid="${id}"\\} (\\d+\\.?\\d*)\\n`).exec(text);
      return match ? Number(match[1]) : undefined;
    };
    const text = await until('the GPU gauges', async () => {
      const body = await scrape();
      return (read(body, 'nv_energy_consumption') ?? 0) > 0 ? body : undefined;
    });
    expect(read(text, 'nv_gpu_utilization')).toBe(0.37);
    expect(read(text, 'nv_gpu_memory_total_bytes')).toBe(81559 * 2 ** 20);
    expect(read(text, 'nv_gpu_memory_used_bytes')).toBe(1024 * 2 ** 20);
    expect(read(text, 'nv_gpu_power_usage')).toBe(69.12);
    expect(read(text, 'nv_gpu_power_limit')).toBe(700);
    expect(text).toMatch(/# TYPE nv_energy_consumption counter/);
    const other = 'GPU-0b7d91e4-3a52-4f6c-8e20-9d1f4c6a2b83';
    expect(read(text, 'nv_gpu_memory_total_bytes', other)).toBe(15360 * 2 ** 20);
    expect(read(text, 'nv_gpu_power_usage', other)).toBeUndefined();
    expect(read(text, 'nv_energy_consumption', other)).toBeUndefined();
    // energy is power integrated over time: it grows between scrapes, by no more than 700 W allows
    const first = read(text, 'nv_energy_consumption')!;
    const t0 = Date.now();
    const later = await until('more energy', async () => {
      const value = read(await scrape(), 'nv_energy_consumption');
      return value !== undefined && value > first ? value : undefined;
    });
    expect(later - first).toBeLessThan(((Date.now() - t0) / 1000 + 1) * 70);
    expect((await calls(dir))[0]).toBe(
      '--query-gpu=uuid,utilization.gpu,memory.total,memory.used,power.draw,power.limit --format=csv,noheader,nounits',
    );
    expect(reports).toEqual([]);
  });

  test('gpuMetrics: false never calls nvidia-smi', async () => {
    const dir = await fakeSmi(`printf '${SMI_OUTPUT.replaceAll('\n', '\\n')}'`);
    const { scrape } = await start(false);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await scrape()).not.toMatch(/nv_gpu|nv_energy/);
    expect(await calls(dir)).toEqual([]);
  });

  test('no nvidia-smi: no nv_gpu lines and no report', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'beamline-no-smi-'));
    process.env.PATH = empty;
    const { scrape, reports } = await start({ intervalMs: 50 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const text = await scrape();
    expect(text).toMatch(/nv_inference_pending_request_count/);
    expect(text).not.toMatch(/nv_gpu|nv_energy/);
    expect(reports).toEqual([]);
  });

  test('a hung nvidia-smi is killed with its children after the timeout and reported once', async () => {
    const dir = await fakeSmi(`sleep 600 &\necho $! >> "$(dirname "$0")/sleepers"\nwait`);
    const { scrape, reports } = await start({ intervalMs: 50, timeoutMs: 200 });
    await until('three calls', async () => ((await calls(dir)).length >= 3 ? true : undefined));
    const sleepers = (await readFile(join(dir, 'sleepers'), 'utf8')).split('\n').filter(Boolean).map(Number);
    // every call's child but possibly the running one is gone
    await until('the killed sleepers to go', () => (sleepers.slice(0, -1).every(gone) ? true : undefined));
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatch(/nvidia-smi did not answer within 200 ms and was killed/);
    expect(await scrape()).not.toMatch(/nv_gpu/);
  });

  test('a failing nvidia-smi is reported once with its message; readings come back when it answers', async () => {
    const dir = await fakeSmi(
      `if [ -f "$(dirname "$0")/fixed" ]; then printf '${SMI_OUTPUT.replaceAll('\n', '\\n')}'; exit 0; fi\n` +
        `echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." >&2; exit 9`,
    );
    const { scrape, reports } = await start({ intervalMs: 50 });
    await until('three calls', async () => ((await calls(dir)).length >= 3 ? true : undefined));
    expect(reports).toEqual([
      "GPU metrics: nvidia-smi failed (exit code 9): NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.; nv_gpu_* metrics are left out until it answers",
    ]);
    expect(await scrape()).not.toMatch(/nv_gpu/);
    await writeFile(join(dir, 'fixed'), '');
    await until('the gauges', async () =>
      (await scrape()).includes('nv_gpu_utilization{') ? true : undefined,
    );
    expect(reports).toHaveLength(1);
  });

  test('close() kills a running nvidia-smi and stops polling', async () => {
    const dir = await fakeSmi(`sleep 600 &\necho $! >> "$(dirname "$0")/sleepers"\nwait`);
    const { server } = await start({ intervalMs: 50, timeoutMs: 60_000 });
    const sleeper = await until('the call', async () => {
      const text = await readFile(join(dir, 'sleepers'), 'utf8').catch(() => '');
      return text.trim() ? Number(text.trim()) : undefined;
    });
    await server.close();
    await until('the sleeper to go', () => (gone(sleeper) ? true : undefined));
    const count = (await calls(dir)).length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await calls(dir)).length).toBe(count);
  });
});
