import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIO } from 'beamline';
import type { RunEvent } from '@beamline/core';
import { serveDirectory, type ServedDirectory } from '@beamline/plugin-grid/testing';

const exampleDir = fileURLToPath(new URL('.', import.meta.url));
const DATASETS = ['moons', 'blobs', 'circles'];
// fetch, then prepare/train/evaluate per dataset, then summarise and package.
const STEP_COUNT = 1 + DATASETS.length * 3 + 2;

/** Runs the `beamline` program in-process in `cwd` and returns its exit code and output. */
async function beamline(
  cwd: string,
  argv: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const capture = (): Writable & { text: string } => {
    const stream = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        stream.text += chunk.toString();
        callback();
      },
    }) as Writable & { text: string };
    stream.text = '';
    return stream;
  };
  const io = { stdout: capture(), stderr: capture(), cwd, env: {}, signal: new AbortController().signal };
  const code = await main(argv, io satisfies CliIO);
  return { code, stdout: io.stdout.text, stderr: io.stderr.text };
}

function parseEvents(stdout: string): RunEvent[] {
  return stdout
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as RunEvent);
}

describe('train-eval demo', () => {
  let dir: string;
  let storage: ServedDirectory;
  // The demo's loopback storage element, as `npm start` serves it (on a free port here).
  const run = (...args: string[]) =>
    beamline(dir, ['run', 'pipeline.yaml', '--param', `gridUrl=${storage.url}`, ...args]);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beamline-train-eval-'));
    // A clean copy: no state or outputs of a run someone made in the example folder itself.
    await cp(exampleDir, dir, {
      recursive: true,
      filter: (source) => !['node_modules', '.beamline', 'out'].includes(basename(source)),
    });
    storage = await serveDirectory(join(dir, 'grid-storage'), { port: 0 });
  });

  afterAll(async () => {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('computes every step on the first run: metrics, artifacts and the report', async () => {
    const { code, stdout, stderr } = await run('--json');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const events = parseEvents(stdout);
    const runId = events[0]?.runId;
    expect(runId).toBeTruthy();
    expect(events.every((event) => event.runId === runId)).toBe(true);
    expect(events.filter((event) => event.type === 'succeeded')).toHaveLength(STEP_COUNT);
    expect(events.at(-1)?.type).toBe('run-succeeded');

    const metrics = events.flatMap((event) =>
      event.type === 'metric' ? [`${event.stepId} ${event.name}`] : [],
    );
    for (const dataset of DATASETS) {
      expect(metrics).toContain(`train[dataset=${dataset}] loss`);
      expect(metrics).toContain(`evaluate[dataset=${dataset}] accuracy`);
    }
    expect(events.some((event) => event.type === 'progress' && event.total === 40)).toBe(true);
    const artifacts = events.flatMap((event) => (event.type === 'artifact' ? [event.artifact.name] : []));
    expect(artifacts.filter((name) => name === 'model')).toHaveLength(DATASETS.length);
    expect(artifacts).toContain('report');
    // The raw data came from the storage element, verified, before anything was prepared from it.
    expect(
      artifacts.filter((name) => name.endsWith('.csv') && DATASETS.includes(name.slice(0, -4))),
    ).toHaveLength(3);
    expect(artifacts).toContain('archive');

    const report = await readFile(join(dir, 'out', 'report.md'), 'utf8');
    for (const dataset of DATASETS) expect(report).toContain(`| ${dataset} |`);
    const summary = JSON.parse(await readFile(join(dir, 'out', 'report.json'), 'utf8')) as {
      meanAccuracy: number;
    };
    expect(summary.meanAccuracy).toBeGreaterThan(0.8);
  });

  it('serves every step from the cache on the second run and still reports metrics and artifacts', async () => {
    const { code, stdout } = await run();
    expect(code).toBe(0);
    expect(stdout).toContain(`${STEP_COUNT} steps: 0 succeeded, ${STEP_COUNT} cached, 0 failed`);
    expect(stdout).not.toMatch(/ started \(attempt/);
    expect(stdout).toMatch(/Metrics\n(.*\n)*\s+evaluate\[dataset=moons\]\s+accuracy=0\.\d+/);
    expect(stdout).toMatch(/train\[dataset=blobs\]\s+model\s+out\/blobs\/model\.json\s+\d+ B/);
    expect(stdout).toMatch(/summarise\s+report\s+out\/report\.md/);

    const runId = /^Run (\S+) succeeded/m.exec(stdout)?.[1] ?? '';
    const show = await beamline(dir, ['show', runId, '--json']);
    const state = JSON.parse(show.stdout) as {
      steps: Record<string, { status: string; artifacts?: unknown[] }>;
    };
    const steps = Object.values(state.steps);
    expect(steps).toHaveLength(STEP_COUNT);
    expect(steps.every((step) => step.status === 'cached' && (step.artifacts?.length ?? 0) > 0)).toBe(true);
  });
});
