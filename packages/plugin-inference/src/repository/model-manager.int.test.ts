import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ResourcePool } from '@beamline/core';
import { afterEach, describe, expect, test } from 'vitest';
import { isInferenceError } from '../errors/inference-error.js';
import type { InferenceRequest } from '../runtime/model-version.js';
import { addSubModel, identityModel, OnnxType, writeModel } from '../../test/support/onnx-models.js';
import { ModelManager, type ModelManagerOptions } from './model-manager.js';

const managers: ModelManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((manager) => manager.stop()));
});

async function repo(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'beamline-inference-manager-'));
}

function manager(options: ModelManagerOptions): ModelManager {
  const created = new ModelManager({ cpus: 2, ...options });
  managers.push(created);
  return created;
}

const request = (value: number, batch = 1): InferenceRequest => ({
  inputs: [
    { name: 'INPUT0', datatype: 'INT32', shape: [batch, 16], data: new Int32Array(16 * batch).fill(value) },
    { name: 'INPUT1', datatype: 'INT32', shape: [batch, 16], data: new Int32Array(16 * batch).fill(1) },
  ],
});

describe('execution providers', () => {
  test('asking for CUDA on a machine without it: the CPU provider serves, the reason is recorded and reported', async () => {
    const dir = await repo();
    await writeModel(dir, 'simple', addSubModel(), {
      pbtxt:
        'max_batch_size: 4\nparameters { key: "execution_providers" value: { string_value: "cuda,cpu" } }\n',
    });
    await writeModel(dir, 'gpu', addSubModel(), {
      pbtxt: 'max_batch_size: 4\ninstance_group [ { kind: KIND_GPU } ]\n',
    });
    const reports: string[] = [];
    const served = manager({
      repository: dir,
      onReport: (level, message) => reports.push(`${level}: ${message}`),
    });
    await served.start();
    const simple = served.resolve('simple');
    expect(simple.provider).toBe('cpu');
    expect(simple.session.fallbacks).toEqual([
      { provider: 'cuda', reason: expect.stringMatching(/Cuda.*Failed to load shared library/) as string },
    ]);
    const gpu = served.resolve('gpu');
    expect(gpu.provider).toBe('cpu');
    expect(gpu.session.fallbacks.map((f) => f.provider)).toEqual(['tensorrt', 'cuda']);
    expect(reports).toContainEqual(
      expect.stringMatching(/^warning: model "simple" version 1: provider cuda not used: .*Failed to load/),
    );
    const result = await simple.infer(request(41));
    expect(Array.from(result.outputs[0]!.data as Int32Array)).toEqual(new Array(16).fill(42));
  });

  test('strict: the load fails with the provider and its reason, nothing serves', async () => {
    const dir = await repo();
    await writeModel(dir, 'simple', addSubModel(), {
      pbtxt:
        'parameters { key: "execution_providers" value: { string_value: "cuda,cpu" } }\nparameters { key: "strict_execution_providers" value: { string_value: "true" } }\n',
    });
    const served = manager({ repository: dir, controlMode: 'explicit' });
    await served.start();
    const error = await served.load('simple').catch((e: unknown) => e);
    expect(isInferenceError(error, 'INFERENCE_PROVIDER_FAILED')).toBe(true);
    expect((error as Error).message).toMatch(
      /no execution provider could load the model: cuda: .*Failed to load shared library/,
    );
    expect(() => served.resolve('simple')).toThrow(/not ready/);
    // The plugin-wide option does the same for GPU instances.
    const strict = manager({ repository: dir, controlMode: 'explicit', strictProviders: true });
    await strict.start();
    await writeFile(join(dir, 'simple', 'config.pbtxt'), 'instance_group [ { kind: KIND_GPU } ]\n');
    await expect(strict.load('simple')).rejects.toThrow(/tensorrt: .*Failed to load shared library/);
  });

  test('GPU instances take a GPU id from the resource pool while loaded and give it back on unload', async () => {
    const dir = await repo();
    await writeModel(dir, 'gpu', addSubModel(), {
      pbtxt: 'instance_group [ { kind: KIND_GPU, count: 2 } ]\n',
    });
    await writeModel(dir, 'cpu', addSubModel(), { pbtxt: 'instance_group [ { kind: KIND_CPU } ]\n' });
    const pool = new ResourcePool({ cpus: 2, memoryMb: 1024, gpus: ['3', '5'] });
    const served = manager({ repository: dir, controlMode: 'explicit', pool });
    await served.start();
    await served.load('cpu');
    expect(pool.available().gpus).toEqual(['3', '5']);
    await served.load('gpu');
    expect(pool.available().gpus).toHaveLength(1);
    // No CUDA here: both instances fell back to the CPU provider, with the reasons recorded.
    expect(served.resolve('gpu').provider).toBe('cpu');
    // A reload leases for the new version; the old one gives its GPU back once it has drained.
    await served.load('gpu');
    await expect.poll(() => pool.available().gpus.length).toBe(1);
    await served.unload('gpu');
    expect([...pool.available().gpus].sort()).toEqual(['3', '5']);
  });

  test('an unknown provider name is a configuration error', async () => {
    const dir = await repo();
    await writeModel(dir, 'simple', addSubModel(), {
      pbtxt: 'parameters { key: "execution_providers" value: { string_value: "cuda,tpu" } }\n',
    });
    const served = manager({ repository: dir, controlMode: 'explicit' });
    await served.start();
    await expect(served.load('simple')).rejects.toThrow(/unknown provider "tpu"/);
  });
});

describe('versions and reloads', () => {
  test('version policies: latest n, all, specific', async () => {
    const dir = await repo();
    for (const version of [1, 2, 3]) await writeModel(dir, 'm', addSubModel(), { version });
    const served = manager({ repository: dir, controlMode: 'explicit' });
    await served.start();
    const versions = async (pbtxt: string) => {
      await writeFile(join(dir, 'm', 'config.pbtxt'), pbtxt);
      await served.load('m');
      return (await served.index(false)).filter((e) => e.name === 'm').map((e) => e.version);
    };
    expect(await versions('')).toEqual(['3']);
    expect(await versions('version_policy: { latest: { num_versions: 2 } }')).toEqual(['2', '3']);
    expect(await versions('version_policy: { all: {} }')).toEqual(['1', '2', '3']);
    expect(await versions('version_policy: { specific: { versions: [1, 3] } }')).toEqual(['1', '3']);
    expect(served.resolve('m').version).toBe(3);
    expect(served.resolve('m', '1').version).toBe(1);
    expect(() => served.resolve('m', '2')).toThrow(/version 2 is not found/);
    await writeFile(join(dir, 'm', 'config.pbtxt'), 'version_policy: { specific: { versions: [7] } }');
    await expect(served.load('m')).rejects.toThrow(/asks for version 7, which is not on disk/);
    expect((await served.index(true)).map((e) => e.version)).toEqual(['1', '3']);
  });

  test('a corrupt new model file fails the reload with a clear error; the old version keeps serving', async () => {
    const dir = await repo();
    await writeModel(dir, 'simple', addSubModel(), { pbtxt: 'max_batch_size: 4\n' });
    const served = manager({ repository: dir, controlMode: 'explicit', loadModels: ['simple'] });
    await served.start();
    const old = served.resolve('simple');
    await writeModel(dir, 'simple', Buffer.from('this is not an onnx model'), { version: 2 });
    const error = await served.load('simple').catch((e: unknown) => e);
    expect(isInferenceError(error, 'INFERENCE_MODEL_INVALID')).toBe(true);
    expect((error as Error).message).toMatch(
      /onnxruntime cannot load the model: .*(protobuf|parse|Load model)/i,
    );
    expect(served.resolve('simple')).toBe(old);
    expect(served.ready).toBe(true);
    expect((await old.infer(request(1))).outputs).toHaveLength(2);
    const index = await served.index(false);
    expect(index).toContainEqual({ name: 'simple', version: '1', state: 'READY', reason: '' });
  });

  test('a configuration that does not fit the model is refused, naming the input', async () => {
    const dir = await repo();
    await writeModel(dir, 'simple', addSubModel(), {
      pbtxt: 'input [ { name: "INPUT0", data_type: TYPE_FP32, dims: [-1, 16] } ]\n',
    });
    const served = manager({ repository: dir });
    await served.start();
    expect(served.ready).toBe(false);
    expect(() => served.resolve('simple')).toThrow(
      /"INPUT0" is TYPE_FP32 in the configuration but TYPE_INT32 in the model/,
    );
  });

  test('reload under load: new workers take over, no request fails, old workers drain', async () => {
    const dir = await repo();
    await writeModel(dir, 'simple', addSubModel(), {
      pbtxt: 'max_batch_size: 4\ninstance_group [ { count: 2, kind: KIND_CPU } ]\n',
    });
    const served = manager({ repository: dir, controlMode: 'explicit', loadModels: ['*'] });
    await served.start();
    let stop = false;
    let done = 0;
    const failures: unknown[] = [];
    const clients = Array.from({ length: 4 }, async () => {
      while (!stop) {
        try {
          const result = await served.resolve('simple').infer(request(2));
          expect((result.outputs[0]!.data as Int32Array)[0]).toBe(3);
          done += 1;
        } catch (error) {
          failures.push(error);
        }
      }
    });
    const first = served.resolve('simple');
    for (let i = 0; i < 3; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      await served.load('simple');
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    stop = true;
    await Promise.all(clients);
    expect(failures).toEqual([]);
    expect(done).toBeGreaterThan(4);
    expect(served.resolve('simple')).not.toBe(first);
    expect(first.state).toBe('UNAVAILABLE');
  });

  test('a version whose workers all died is not ready, the server says so, and a reload brings it back', async () => {
    const dir = await repo();
    await writeModel(dir, 'simple', addSubModel(), {});
    const served = manager({ repository: dir, controlMode: 'explicit', loadModels: ['simple'] });
    await served.start();
    const version = served.resolve('simple');
    // What a crashed worker looks like from outside: its thread is gone.
    const instances = (version as unknown as { instances: { worker: { close(): Promise<void> } }[] })
      .instances;
    await Promise.all(instances.map((instance) => instance.worker.close()));
    expect(served.ready).toBe(false);
    expect(() => served.resolve('simple')).toThrow(/not ready/);
    expect(await served.index(false)).toEqual([
      {
        name: 'simple',
        version: '1',
        state: 'UNAVAILABLE',
        reason: expect.stringMatching(/every instance .* stopped/) as string,
      },
    ]);
    await served.load('simple');
    expect(served.ready).toBe(true);
    expect((await served.resolve('simple').infer(request(1))).outputs).toHaveLength(2);
  });

  test('unload waits for in-flight requests, then the model is gone', async () => {
    const dir = await repo();
    await writeModel(dir, 'simple', addSubModel(), {});
    const served = manager({ repository: dir, controlMode: 'explicit', loadModels: ['simple'] });
    await served.start();
    const version = served.resolve('simple');
    const inFlight = Array.from({ length: 20 }, (_, i) => version.infer(request(i)));
    await served.unload('simple');
    const results = await Promise.all(inFlight);
    expect(results).toHaveLength(20);
    expect(() => served.resolve('simple')).toThrow(/not ready/);
    expect(await served.index(false)).toEqual([{ name: 'simple', state: 'UNAVAILABLE', reason: 'unloaded' }]);
    await expect(version.infer(request(1))).rejects.toThrow(/not ready/);
  });

  test('poll mode: a new version is picked up, a broken one leaves the old serving, a removed model is unloaded', async () => {
    const dir = await repo();
    await writeModel(dir, 'simple', addSubModel(), {});
    const served = manager({ repository: dir, controlMode: 'poll', pollIntervalMs: 100 });
    await served.start();
    expect(served.resolve('simple').version).toBe(1);
    await writeModel(dir, 'simple', addSubModel(), { version: 2 });
    await expect.poll(() => served.resolve('simple').version, { timeout: 20_000 }).toBe(2);
    await writeModel(dir, 'simple', Buffer.from('garbage'), { version: 3 });
    await expect
      .poll(async () => (await served.index(false)).find((e) => e.name === 'simple')?.version, {
        timeout: 5000,
      })
      .toBe('2');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(served.resolve('simple').version).toBe(2);
    await writeModel(dir, 'other', identityModel(OnnxType.FLOAT, [2]), {});
    await expect.poll(() => served.has('other') && served.ready, { timeout: 20_000 }).toBe(true);
    await rm(join(dir, 'other'), { recursive: true });
    await expect
      .poll(() => served.loadedVersions().some((v) => v.name === 'other'), { timeout: 20_000 })
      .toBe(false);
  }, 60_000);
});
