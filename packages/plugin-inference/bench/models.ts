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

/**
 * An MLP over `[batch, sizes[0]]`: MatMul (and Relu between layers) for each step of `sizes`, weights from
 * a fixed seed.
 */
export function mlp(sizes: number[]): Uint8Array {
  const node: Record<string, unknown>[] = [];
  const initializer: Record<string, unknown>[] = [];
  let current = 'INPUT';
  for (let layer = 0; layer + 1 < sizes.length; layer += 1) {
    const [rows, cols] = [sizes[layer]!, sizes[layer + 1]!];
    const last = layer + 2 === sizes.length;
    initializer.push({
      name: `W${layer}`,
      dims: [rows, cols],
      dataType: 1,
      rawData: new Uint8Array(weights(rows * cols, layer + 1).buffer),
    });
    node.push({ opType: 'MatMul', input: [current, `W${layer}`], output: [last ? 'OUTPUT' : `M${layer}`] });
    if (!last) node.push({ opType: 'Relu', input: [`M${layer}`], output: [`H${layer}`] });
    current = `H${layer}`;
  }
  return encode({
    name: 'mlp',
    node,
    input: [info('INPUT', ['batch', sizes[0]!])],
    output: [info('OUTPUT', ['batch', sizes.at(-1)!])],
    initializer,
  });
}

/** The batching target's MLP: 1024 → 2048 → 2048 → 16, 6.3 M parameters (25 MB of FP32 weights). */
export const MLP_SIZES = [1024, 2048, 2048, 16];
/** The tiny MLP (256 → 256 → 16, 9 µs a run), where HTTP costs more than the model. */
export const SMALL_MLP_SIZES = [256, 256, 16];

/**
 * A repository: identity (unbatched), identity_main (the same, session in the server's main thread), mlp
 * (batched, dynamic batching), mlp_plain (batched, no batcher), and mlp_small / mlp_small_plain the same
 * for the tiny MLP.
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
  const batched =
    'max_batch_size: 64\ninstance_group [ { kind: KIND_CPU } ]\ndynamic_batching { max_queue_delay_microseconds: 500 }\n';
  const plain = 'max_batch_size: 64\ninstance_group [ { kind: KIND_CPU } ]\n';
  await put('mlp', mlp(MLP_SIZES), batched);
  await put('mlp_plain', mlp(MLP_SIZES), plain);
  await put('mlp_small', mlp(SMALL_MLP_SIZES), batched);
  await put('mlp_small_plain', mlp(SMALL_MLP_SIZES), plain);
}
