import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { isInferenceError } from '../errors/inference-error.js';
import { ModelManager } from '../repository/model-manager.js';
import { addSubModel, writeModel } from '../../test/support/onnx-models.js';
import type { InferenceRequest } from './model-version.js';

const managers: ModelManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((manager) => manager.stop()));
});

const MAIN = 'parameters { key: "session_thread" value: { string_value: "main" } }\n';

const request = (value: number, batch = 1): InferenceRequest => ({
  inputs: [
    { name: 'INPUT0', datatype: 'INT32', shape: [batch, 16], data: new Int32Array(16 * batch).fill(value) },
    { name: 'INPUT1', datatype: 'INT32', shape: [batch, 16], data: new Int32Array(16 * batch).fill(1) },
  ],
  ownsInputs: true,
});

test('session_thread "main": the session runs in the main thread, with the same results, batching, fallback and reloads', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'beamline-inference-inline-'));
  await writeModel(dir, 'inline', addSubModel(), {
    pbtxt: `max_batch_size: 8\ndynamic_batching { max_queue_delay_microseconds: 100000 }\n${MAIN}parameters { key: "execution_providers" value: { string_value: "cuda,cpu" } }\n`,
  });
  const manager = new ModelManager({ repository: dir, cpus: 2, controlMode: 'explicit', loadModels: ['*'] });
  managers.push(manager);
  await manager.start();
  const version = manager.resolve('inline');
  expect(version.provider).toBe('cpu');
  expect(version.session.fallbacks.map((f) => f.provider)).toEqual(['cuda']);
  const results = await Promise.all([1, 2, 3].map((value) => version.infer(request(value))));
  results.forEach((result, i) => {
    expect(Array.from(result.outputs[0]!.data as Int32Array)).toEqual(new Array(16).fill(i + 2));
    expect(Array.from(result.outputs[1]!.data as Int32Array)).toEqual(new Array(16).fill(i));
  });
  expect(version.stats.executionCount).toBeLessThan(3);
  // onnxruntime's own refusal is a 400-class error, and the next request is served.
  const bad: InferenceRequest = {
    inputs: [
      { name: 'INPUT0', datatype: 'INT32', shape: [1, 16], data: new Int32Array(3) },
      { name: 'INPUT1', datatype: 'INT32', shape: [1, 16], data: new Int32Array(16) },
    ],
  };
  await expect(version.infer(bad)).rejects.toSatisfy((error) =>
    isInferenceError(error, 'INFERENCE_INVALID_ARGUMENT'),
  );
  await manager.load('inline');
  const reloaded = manager.resolve('inline');
  expect(reloaded).not.toBe(version);
  const after = await reloaded.infer(request(5));
  expect(Array.from(after.outputs[0]!.data as Int32Array)).toEqual(new Array(16).fill(6));
  expect(version.state).toBe('UNAVAILABLE');
});

test('session_thread other than "worker" or "main" fails the load with a clear error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'beamline-inference-inline-'));
  await writeModel(dir, 'odd', addSubModel(), {
    pbtxt: 'max_batch_size: 8\nparameters { key: "session_thread" value: { string_value: "gpu" } }\n',
  });
  const manager = new ModelManager({ repository: dir, cpus: 2, controlMode: 'explicit' });
  managers.push(manager);
  await manager.start();
  await expect(manager.load('odd')).rejects.toThrow(/session_thread must be "worker" or "main", got "gpu"/);
});
