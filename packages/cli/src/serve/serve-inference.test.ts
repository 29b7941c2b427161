import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeIO } from '../testing/fake-io.js';
import { runCli } from '../testing/run-cli.js';
import { serveCommand } from './serve-command.js';

// SUM = A + B over FP32 [n]: an ONNX model (opset 13) generated with onnx-proto.
const ADD_MODEL = Buffer.from(
  'CAc6TwoQCgFBCgFCEgNTVU0iA0FkZBIDYWRkWhAKAUESCwoJCAESBQoDEgFuWhAKAUISCwoJCAESBQoDEgFuYhIKA1NVTRILCgkIARIFCgMSAW5CBAoAEA0=',
  'base64',
);

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cli-serve-inference-'));
  mkdirSync(join(dir, 'models', 'add', '1'), { recursive: true });
  writeFileSync(join(dir, 'models', 'add', '1', 'model.onnx'), ADD_MODEL);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function http(url: string, method = 'GET', body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function waitFor(read: () => string, pattern: RegExp): Promise<RegExpExecArray> {
  for (let attempt = 0; attempt < 600; attempt += 1) {
    const match = pattern.exec(read());
    if (match) return match;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${pattern} in:\n${read()}`);
}

/** `beamline serve inference` on the test repository, every port chosen by the system. */
const serveArgs = (...flags: string[]): string[] => [
  'serve',
  'inference',
  '--model-repository',
  'models',
  ...flags,
  ...['--http-port', '0', '--grpc-port', '0', '--metrics-port', '0'],
];

describe('beamline serve inference', () => {
  it('serves the repository over HTTP and metrics until Ctrl-C, then stops cleanly with 0', async () => {
    const io = createFakeIO({ cwd: dir });
    const running = runCli(serveArgs(), { io, commands: [serveCommand] });
    const [, base, , metrics] = await waitFor(
      () => io.stdout.text + io.stderr.text,
      /serving .*: HTTP (http:\/\/127\.0\.0\.1:\d+), gRPC (127\.0\.0\.1:\d+), metrics (http:\S+)\n/,
    );
    expect((await http(`${base}/v2/health/ready`)).status).toBe(200);
    const reply = await http(
      `${base}/v2/models/add/infer`,
      'POST',
      JSON.stringify({
        inputs: [
          { name: 'A', datatype: 'FP32', shape: [2], data: [1, 2] },
          { name: 'B', datatype: 'FP32', shape: [2], data: [10, 20] },
        ],
      }),
    );
    expect(JSON.parse(reply.body)).toMatchObject({
      model_name: 'add',
      outputs: [{ name: 'SUM', data: [11, 22] }],
    });
    expect((await http(metrics!)).body).toContain('nv_inference_count{model="add",version="1"} 1');
    io.controller.abort(new Error('received SIGINT'));
    expect((await running).code).toBe(0);
    await expect(http(`${base}/v2/health/live`)).rejects.toThrow(/ECONNREFUSED/);
  });

  it.skipIf(process.platform !== 'linux')(
    'where models can be reloaded, says how to keep glibc from growing the process (unless the environment does)',
    async () => {
      const serve = async (env: NodeJS.ProcessEnv) => {
        const io = createFakeIO({ cwd: dir, env });
        const running = runCli(serveArgs('--model-control-mode', 'explicit'), {
          io,
          commands: [serveCommand],
        });
        await waitFor(() => io.stdout.text, /serving /);
        io.controller.abort(new Error('received SIGINT'));
        expect((await running).code).toBe(0);
        return io.stderr.text;
      };
      expect(await serve({})).toContain('set MALLOC_MMAP_THRESHOLD_=1048576');
      expect(await serve({ MALLOC_MMAP_THRESHOLD_: '1048576' })).not.toContain('MALLOC_MMAP_THRESHOLD_');
    },
  );

  it('bad flags or a missing repository exit 2 with the reason', async () => {
    const run = (args: string[]) =>
      runCli(['serve', 'inference', ...args], { io: createFakeIO({ cwd: dir }), commands: [serveCommand] });
    const missing = await run(['--model-repository', 'nowhere']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--model-repository: .*nowhere is not a folder/);
    expect((await run(['--model-repository', 'models', '--http-port', '70000'])).code).toBe(2);
    const mode = await run(['--model-repository', 'models', '--model-control-mode', 'sometimes']);
    expect(mode.code).toBe(2);
    expect(mode.stderr).toContain('expected none, explicit or poll');
    expect((await run(['--model-repository', 'models', '--load-model', 'add'])).stderr).toContain(
      '--load-model needs --model-control-mode explicit',
    );
    expect(
      (await run(['--model-repository', 'models', '--execution-providers', 'cuda,tpu'])).stderr,
    ).toContain("unknown provider 'tpu'");
    const gpu = await run(['--model-repository', 'models', '--allow-gpu-metrics', 'maybe']);
    expect([gpu.code, gpu.stderr]).toEqual([2, expect.stringContaining('expected true or false') as string]);
    const interval = await run(['--model-repository', 'models', '--metrics-interval-ms', '0']);
    expect(interval.code).toBe(2);
    expect(interval.stderr).toContain('expected a whole number of milliseconds');
  });
});
