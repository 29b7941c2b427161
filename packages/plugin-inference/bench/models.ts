import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

const info = (name: string, dims: (number | string)[]) => ({
  name,
  type: {
    tensorType: {
      elemType: 1,
      shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
    },
  },
});

function encode(graph: Record<string, unknown>): Uint8Array {
  return onnx.ModelProto.encode(
    onnx.ModelProto.fromObject({
      irVersion: 7,
      producerName: 'plugin-inference-bench',
      opsetImport: [{ domain: '', version: 13 }],
      graph,
    }),
  ).finish();
}

function weights(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let state = seed;
  for (let i = 0; i < count; i += 1) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = (state / 2 ** 32 - 0.5) * 0.2;
  }
  return out;
}

/** FP32 `[batch, n]` → Identity (the minimum-latency scenario; also the 16 MB one). */
export const identity = (): Uint8Array =>
  encode({
    name: 'identity',
    node: [{ opType: 'Identity', input: ['INPUT'], output: ['OUTPUT'] }],
    input: [info('INPUT', ['batch', 'n'])],
    output: [info('OUTPUT', ['batch', 'n'])],
  });

/** MLP 256 → 256 → 16 on `[batch, 256]`. */
export const mlp = (): Uint8Array =>
  encode({
    name: 'mlp',
    node: [
      { opType: 'MatMul', input: ['INPUT', 'W1'], output: ['H'] },
      { opType: 'Relu', input: ['H'], output: ['R'] },
      { opType: 'MatMul', input: ['R', 'W2'], output: ['OUTPUT'] },
    ],
    input: [info('INPUT', ['batch', 256])],
    output: [info('OUTPUT', ['batch', 16])],
    initializer: [
      { name: 'W1', dims: [256, 256], dataType: 1, rawData: new Uint8Array(weights(65536, 1).buffer) },
      { name: 'W2', dims: [256, 16], dataType: 1, rawData: new Uint8Array(weights(4096, 2).buffer) },
    ],
  });

/**
 * A repository: identity (unbatched), identity_main (the same, session in the server's main thread), mlp
 * (batched, dynamic batching), mlp_plain (batched, no batcher).
 */
export async function writeRepository(dir: string): Promise<void> {
  const put = async (name: string, model: Uint8Array, pbtxt: string) => {
    await mkdir(join(dir, name, '1'), { recursive: true });
    await writeFile(join(dir, name, '1', 'model.onnx'), model);
    await writeFile(join(dir, name, 'config.pbtxt'), pbtxt);
  };
  await put('identity', identity(), 'max_batch_size: 0\ninstance_group [ { kind: KIND_CPU } ]\n');
  await put(
    'identity_main',
    identity(),
    'max_batch_size: 0\ninstance_group [ { kind: KIND_CPU } ]\nparameters { key: "session_thread" value: { string_value: "main" } }\n',
  );
  await put(
    'mlp',
    mlp(),
    'max_batch_size: 64\ninstance_group [ { kind: KIND_CPU } ]\ndynamic_batching { max_queue_delay_microseconds: 500 }\n',
  );
  await put('mlp_plain', mlp(), 'max_batch_size: 64\ninstance_group [ { kind: KIND_CPU } ]\n');
}
