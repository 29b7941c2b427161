import * as ort from 'onnxruntime-node';
import { InferenceError } from '../errors/inference-error.js';
import type { OrtTensorMetadata } from '../model/model-config.js';
import { nowNs as now } from './clock.js';
import {
  loadFailure,
  type ExecutionResult,
  type LoadedSession,
  type ProviderFallback,
  type ProviderSpec,
  type SessionOptions,
  type SessionRunner,
  type WireTensor,
} from './session-worker.js';

const reason = (error: unknown): string => (error instanceof Error ? error.message : String(error)).trim();
const providerName = (spec: ProviderSpec): string => (typeof spec === 'string' ? spec : spec.name);

function metadata(
  names: readonly string[],
  entries: readonly ort.InferenceSession.ValueMetadata[],
): OrtTensorMetadata[] {
  return names.map((name, index) => {
    const entry = entries[index];
    if (!entry?.isTensor) return { name, isTensor: false, type: 'non-tensor', shape: [] };
    return { name, isTensor: true, type: String(entry.type), shape: Array.from(entry.shape) };
  });
}

/**
 * An onnxruntime session in the main thread (`parameters { key: "session_thread" value: { string_value:
 * "main" } }`): no hop to a worker and back, which for models that run in microseconds costs more than
 * the model, but each `run()` blocks the event loop while it runs, and a reload releases and creates
 * sessions in this thread (whose memory grows, microsoft/onnxruntime#25325).
 */
export class InlineSession implements SessionRunner {
  private closed = false;

  private constructor(private readonly session: ort.InferenceSession) {}

  /** Creates the session, trying `providers` in order as {@link SessionWorker.start} does. */
  static async start(
    modelPath: string,
    providers: readonly ProviderSpec[],
    options: SessionOptions & { strict: boolean },
  ): Promise<{ worker: InlineSession; loaded: LoadedSession }> {
    const { strict, ...sessionOptions } = options;
    const fallbacks: ProviderFallback[] = [];
    for (let i = 0; i < providers.length; i += 1) {
      const list = providers.slice(i);
      try {
        const createOptions = { ...sessionOptions, executionProviders: list };
        const session = await ort.InferenceSession.create(
          modelPath,
          createOptions as ort.InferenceSession.SessionOptions,
        );
        return {
          worker: new InlineSession(session),
          loaded: {
            provider: providerName(list[0]!),
            fallbacks,
            inputs: metadata(session.inputNames, session.inputMetadata),
            outputs: metadata(session.outputNames, session.outputMetadata),
          },
        };
      } catch (error) {
        fallbacks.push({ provider: providerName(list[0]!), reason: reason(error) });
        if (strict) break;
      }
    }
    throw loadFailure(fallbacks);
  }

  get alive(): boolean {
    return !this.closed;
  }

  async run(feeds: Record<string, WireTensor>, fetches: readonly string[]): Promise<ExecutionResult> {
    if (this.closed) throw new InferenceError('INFERENCE_UNAVAILABLE', 'the model instance was stopped');
    const t0 = now();
    let t1 = t0;
    let results: ort.InferenceSession.ReturnType;
    try {
      const tensors: Record<string, ort.Tensor> = {};
      for (const [name, feed] of Object.entries(feeds)) {
        tensors[name] = new ort.Tensor(
          feed.type as ort.Tensor.Type,
          feed.data as ort.Tensor.DataType,
          feed.dims,
        );
      }
      t1 = now();
      results = await this.session.run(tensors, fetches);
    } catch (error) {
      throw new InferenceError('INFERENCE_INVALID_ARGUMENT', `onnxruntime: ${reason(error)}`);
    }
    const t2 = now();
    const outputs: Record<string, WireTensor> = {};
    for (const name of fetches) {
      const tensor = results[name]!;
      outputs[name] = {
        type: tensor.type,
        dims: Array.from(tensor.dims),
        data: tensor.data,
      };
    }
    return { outputs, inputNs: t1 - t0, inferNs: t2 - t1, outputNs: now() - t2 };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.session.release();
  }
}
