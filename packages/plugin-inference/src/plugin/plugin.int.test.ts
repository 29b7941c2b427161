import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRuntime, MemoryStore } from '@beamline/core';
import { describe, expect, test } from 'vitest';
import { InferenceHttpClient } from '../client/http-client.js';
import { InferenceServiceToken } from '../tokens.js';
import { addSubModel, mlpModel, writeModel } from '../../test/support/onnx-models.js';
import { createInferencePlugin } from './create-inference-plugin.js';

const request = (a: number[], b: number[], id?: string) =>
  JSON.stringify({
    ...(id && { id }),
    inputs: [
      { name: 'INPUT0', datatype: 'INT32', shape: [1, 16], data: a },
      { name: 'INPUT1', datatype: 'INT32', shape: [1, 16], data: b },
    ],
  });

describe('inference.run', () => {
  test('runs every request file; responses are artifacts with their SHA-256; outputs name the provider', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'beamline-inference-run-'));
    await writeModel(join(cwd, 'models'), 'simple', addSubModel(), { pbtxt: 'max_batch_size: 4\n' });
    await mkdir(join(cwd, 'requests', 'b'), { recursive: true });
    const ones = new Array<number>(16).fill(1);
    await writeFile(
      join(cwd, 'requests', 'e1.json'),
      request(new Array<number>(16).fill(5), ones, 'event-1'),
    );
    await writeFile(join(cwd, 'requests', 'b', 'e2.json'), request(new Array<number>(16).fill(9), ones));
    await writeFile(join(cwd, 'requests', 'b', 'e1.json'), request(new Array<number>(16).fill(2), ones));
    const runtime = await createRuntime({
      plugins: [createInferencePlugin()],
      store: new MemoryStore(),
      cwd,
    });
    try {
      const run = await runtime.run({
        name: 'batch',
        steps: {
          infer: {
            uses: 'inference.run',
            with: { model: 'models/simple', inputs: 'requests/**/*.json', outputDir: 'out' },
          },
        },
      });
      const result = await run.done;
      expect(result.status, JSON.stringify(result.steps.infer?.error)).toBe('succeeded');
      const step = result.steps.infer!;
      expect(step.outputs).toEqual({ dir: 'out', count: 3, provider: 'cpu', model: 'simple', version: 1 });
      expect(step.artifacts?.map((a) => a.name).sort()).toEqual([
        'out/e1.json',
        'out/e2.json',
        'out/requests__e1.json',
      ]);
      for (const artifact of step.artifacts!) {
        const bytes = await readFile(artifact.path);
        expect(artifact.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
        expect(artifact.size).toBe(bytes.length);
      }
      const first = JSON.parse(await readFile(join(cwd, 'out', 'requests__e1.json'), 'utf8')) as {
        id: string;
        outputs: { data: number[] }[];
      };
      expect(first.id).toBe('event-1');
      expect(first.outputs[0]!.data).toEqual(new Array(16).fill(6));
    } finally {
      await runtime.close();
    }
  });

  test('a bad request file fails the step naming the file and the problem; a lone .onnx file works as a model', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'beamline-inference-run-'));
    await writeFile(join(cwd, 'mlp.onnx'), mlpModel());
    await writeFile(
      join(cwd, 'good.json'),
      JSON.stringify({
        inputs: [{ name: 'INPUT', datatype: 'FP32', shape: [1, 256], data: new Array(256).fill(0.5) }],
      }),
    );
    await writeFile(
      join(cwd, 'bad.json'),
      JSON.stringify({
        inputs: [{ name: 'INPUT', datatype: 'FP32', shape: [1, 255], data: new Array(255).fill(0.5) }],
      }),
    );
    const runtime = await createRuntime({
      plugins: [createInferencePlugin()],
      store: new MemoryStore(),
      cwd,
    });
    try {
      const ok = await (
        await runtime.run({
          name: 'ok',
          steps: { s: { uses: 'inference.run', with: { model: 'mlp.onnx', inputs: 'good.json' } } },
        })
      ).done;
      expect(ok.status).toBe('succeeded');
      const response = JSON.parse(await readFile(join(cwd, 'predictions', 'good.json'), 'utf8')) as {
        outputs: { shape: number[] }[];
      };
      expect(response.outputs[0]!.shape).toEqual([1, 16]);
      const bad = await (
        await runtime.run({
          name: 'bad',
          steps: { s: { uses: 'inference.run', with: { model: 'mlp.onnx', inputs: '*.json' } } },
        })
      ).done;
      expect(bad.status).toBe('failed');
      expect(bad.steps.s?.error?.message).toMatch(/bad\.json: unexpected shape for input 'INPUT'/);
      const outside = await (
        await runtime.run({
          name: 'out',
          steps: {
            s: {
              uses: 'inference.run',
              with: { model: 'mlp.onnx', inputs: 'good.json', outputDir: '../elsewhere' },
            },
          },
        })
      ).done;
      expect(outside.steps.s?.error?.message).toMatch(/outside the step's work directory/);
      const none = await (
        await runtime.run({
          name: 'none',
          steps: { s: { uses: 'inference.run', with: { model: 'mlp.onnx', inputs: 'nothing/*.json' } } },
        })
      ).done;
      expect(none.steps.s?.error?.message).toMatch(/match no file/);
    } finally {
      await runtime.close();
    }
  });
});

describe('the inference service', () => {
  test('the runtime starts the server on the repository and stops it on close', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'beamline-inference-service-'));
    await writeModel(join(cwd, 'models'), 'simple', addSubModel(), { pbtxt: 'max_batch_size: 4\n' });
    const runtime = await createRuntime({
      plugins: [
        createInferencePlugin({ modelRepository: 'models', httpPort: 0, grpcPort: 0, metricsPort: 0 }),
      ],
      store: new MemoryStore(),
      cwd,
    });
    const service = runtime.resolve(InferenceServiceToken);
    const client = new InferenceHttpClient(service.url!);
    try {
      expect(await service.health()).toEqual({ ok: true });
      expect(await client.ready()).toBe(true);
      const reply = await client.infer('simple', [
        { name: 'INPUT0', datatype: 'INT32', shape: [1, 16], data: new Int32Array(16).fill(3) },
        { name: 'INPUT1', datatype: 'INT32', shape: [1, 16], data: new Int32Array(16).fill(4) },
      ]);
      expect(Array.from(reply.outputs[0]!.data as Int32Array)).toEqual(new Array(16).fill(7));
    } finally {
      client.close();
      await runtime.close();
    }
    expect(await service.health()).toEqual({ ok: false, detail: 'not started' });
  });
});
