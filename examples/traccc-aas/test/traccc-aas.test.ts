import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_PORTS, InferenceServer } from '@beamline/plugin-inference';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { readEventCsv } from '../src/events.js';
import { prepare } from '../src/setup.js';
import { TracccClient, type TracccResult } from '../src/traccc-client.js';
import { COV_WEIGHTS, TRK_WEIGHTS } from '../src/traccc-model.js';

let dir: string;
let server: InferenceServer;
let address: { http?: string; grpc?: string; metrics?: string };
let eventFiles: string[];
const reports: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'traccc-aas-test-'));
  const prepared = await prepare(dir, 4, (i) => [1, 700, 5000, 20_000][i]!);
  eventFiles = prepared.eventFiles;
  server = new InferenceServer({
    repository: prepared.repository,
    httpPort: 0,
    grpcPort: 0,
    metricsPort: 0,
    onReport: (level, message) => reports.push(`${level}: ${message}`),
  });
  address = await server.start();
}, 120_000);

afterAll(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Recomputes the outputs from the event, as the model defines them. */
function expectOutputs(event: Awaited<ReturnType<typeof readEventCsv>>, result: TracccResult): void {
  expect(result.geometryIds).toEqual(
    BigInt64Array.from({ length: event.cells }, (_, i) => event.positions[i * 4]!),
  );
  expect(result.measurements.length).toBe(event.cells * 6);
  expect(result.trackParams.length).toBe(event.cells * 8);
  expect(result.covariances.length).toBe(event.cells * 25);
  for (const row of [0, event.cells - 1]) {
    const measurement = [
      ...Array.from(event.positions.subarray(row * 4, row * 4 + 4), (v) => Math.fround(Number(v))),
      ...event.properties.subarray(row * 2, row * 2 + 2),
    ];
    expect(Array.from(result.measurements.subarray(row * 6, row * 6 + 6))).toEqual(measurement);
    for (const [weights, width, out] of [
      [TRK_WEIGHTS, 8, result.trackParams],
      [COV_WEIGHTS, 25, result.covariances],
    ] as const) {
      for (let column = 0; column < width; column += 1) {
        let sum = 0;
        for (let k = 0; k < 6; k += 1) sum += measurement[k]! * weights[k * width + column]!;
        expect(out[row * width + column]).toBeCloseTo(sum, -Math.log10(Math.abs(sum) * 1e-5 + 1e-9));
      }
    }
  }
}

describe('traccc as a service', () => {
  test('event CSVs over gRPC and HTTP give the outputs the model defines, 64-bit geometry ids exact', async () => {
    expect(reports).toContainEqual(expect.stringMatching(/^warning: .*provider cuda not used/));
    for (const target of [{ grpc: address.grpc! }, { http: address.http! }]) {
      const client = new TracccClient(target);
      try {
        for (const file of eventFiles) {
          const event = await readEventCsv(file);
          expectOutputs(event, await client.reconstruct(event));
        }
      } finally {
        client.close();
      }
    }
  });

  test('a malformed event CSV names the file, line and column', async () => {
    const bad = join(dir, 'bad.csv');
    await writeFile(bad, 'geometry_id,measurement_id,channel0,channel1,timestamp,value\n1,2,3,x,0.5,1\n');
    await expect(readEventCsv(bad)).rejects.toThrow(/bad\.csv:2: column 4 must be an integer, got "x"/);
  });
});

interface Probe {
  httpGet: { path: string; port: string };
}
interface Container {
  command: string[];
  args: string[];
  ports: { name: string; containerPort: number }[];
  readinessProbe: Probe;
  startupProbe: Probe;
  livenessProbe: Probe;
}
interface Deployment {
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: { spec: { containers: Container[]; terminationGracePeriodSeconds: number } };
  };
}
interface ServiceManifest {
  spec: { selector: Record<string, string>; ports: { name: string; port: number; targetPort: string }[] };
}
interface PrometheusConfig {
  scrape_configs: { metrics_path: string }[];
}
interface RuleFile {
  groups: { rules: { expr: string }[] }[];
}

describe('deployment files', () => {
  const load = async <T>(file: string): Promise<T[]> =>
    parseAllDocuments(await readFile(new URL(`../deploy/${file}`, import.meta.url), 'utf8')).map((doc) => {
      expect(doc.errors).toEqual([]);
      return doc.toJS() as T;
    });

  test('the Deployment runs the server on its real ports, with probes the real server answers', async () => {
    const [deployment] = await load<Deployment>('deployment.yaml');
    const container = deployment!.spec.template.spec.containers[0]!;
    expect(container.command).toEqual(['beamline']);
    expect(container.args.slice(0, 2)).toEqual(['serve', 'inference']);
    const ports = Object.fromEntries(
      (container.ports as { name: string; containerPort: number }[]).map((p) => [p.name, p.containerPort]),
    );
    expect(ports).toEqual({
      http: DEFAULT_PORTS.http,
      grpc: DEFAULT_PORTS.grpc,
      metrics: DEFAULT_PORTS.metrics,
    });
    for (const probe of ['readinessProbe', 'startupProbe', 'livenessProbe']) {
      const { path, port } = container[probe as 'readinessProbe'].httpGet;
      expect(port).toBe('http');
      const reply = await fetch(`${address.http}${path}`);
      expect(reply.status, `${probe} ${path}`).toBe(200);
    }
    expect(container.readinessProbe.httpGet.path).toBe('/v2/health/ready');
    expect(container.startupProbe.httpGet.path).toBe('/v2/health/ready');
    // The grace period covers the server's drain (--exit-timeout-secs).
    const exit = Number(container.args.find((a) => a.startsWith('--exit-timeout-secs='))!.split('=')[1]);
    expect(deployment!.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(exit);
  });

  test('the Service exposes 8000/8001/8002 onto the container ports by name', async () => {
    const [service] = await load<ServiceManifest>('service.yaml');
    const [deployment] = await load<Deployment>('deployment.yaml');
    const names = deployment!.spec.template.spec.containers[0]!.ports.map((p) => p.name);
    expect(service!.spec.selector).toEqual(deployment!.spec.selector.matchLabels);
    expect(service!.spec.ports.map((p) => [p.name, p.port, p.targetPort])).toEqual([
      ['http', DEFAULT_PORTS.http, 'http'],
      ['grpc', DEFAULT_PORTS.grpc, 'grpc'],
      ['metrics', DEFAULT_PORTS.metrics, 'metrics'],
    ]);
    for (const port of service!.spec.ports) expect(names).toContain(port.targetPort);
  });

  test("Prometheus scrapes /metrics, and SuperSONIC's load metric uses names the server exports", async () => {
    const documents = await load<unknown>('prometheus.yaml');
    const scrape = documents[0] as PrometheusConfig;
    const rules = documents[1] as RuleFile;
    expect(scrape.scrape_configs[0]!.metrics_path).toBe('/metrics');
    expect(new URL(address.metrics!).pathname).toBe('/metrics');
    const exported = await (await fetch(address.metrics!)).text();
    const expr = rules.groups[0]!.rules[0]!.expr;
    const names = [...expr.matchAll(/\b(nv_[a-z_]+)\[/g)].map((m) => m[1]!);
    expect(names).toEqual(['nv_inference_queue_duration_us', 'nv_inference_exec_count']);
    for (const name of names) expect(exported).toMatch(new RegExp(`^# TYPE ${name} counter$`, 'm'));
  });
});
