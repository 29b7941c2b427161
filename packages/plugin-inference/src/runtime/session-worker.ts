import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { InferenceSession } from 'onnxruntime-node';
import { InferenceError } from '../errors/inference-error.js';
import type { OrtTensorMetadata } from '../model/model-config.js';
import { WORKER_SOURCE } from './worker-source.js';

const ORT_PATH = createRequire(import.meta.url).resolve('onnxruntime-node');

/** An execution provider as onnxruntime-node takes it: a name, or a name with a device id. */
export type ProviderSpec = string | { name: string; deviceId?: number };

/** A provider that could not be used, and why (onnxruntime's message). */
export interface ProviderFallback {
  provider: string;
  reason: string;
}

/** Session options passed through to `InferenceSession.create`. */
export interface SessionOptions {
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  graphOptimizationLevel?: InferenceSession.SessionOptions['graphOptimizationLevel'];
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}

/** A tensor as it crosses to the worker: onnxruntime's type name, dims and flat data. */
export interface WireTensor {
  type: string;
  dims: number[];
  data: ArrayBufferView | string[];
}

/** The outputs of one execution with the worker's own timings (ns). */
export interface ExecutionResult {
  outputs: Record<string, WireTensor>;
  inputNs: number;
  inferNs: number;
  outputNs: number;
}

/** What loading reported. */
export interface LoadedSession {
  provider: string;
  fallbacks: ProviderFallback[];
  inputs: OrtTensorMetadata[];
  outputs: OrtTensorMetadata[];
}

/** How an instance runs its session: in a worker thread ({@link SessionWorker}) or in the main thread. */
export interface SessionRunner {
  /** One execution; `move` allows transferring the inputs' buffers (the request owns them whole). */
  run(
    feeds: Record<string, WireTensor>,
    fetches: readonly string[],
    move?: boolean,
  ): Promise<ExecutionResult>;
  /** True until the runner died or was closed. */
  readonly alive: boolean;
  /** Stops it; pending executions fail. */
  close(): Promise<void>;
}

/**
 * The error of a load where no provider worked: the model's fault when even the CPU provider failed
 * (`INFERENCE_MODEL_INVALID`), else the providers' (`INFERENCE_PROVIDER_FAILED`), every reason listed.
 */
export function loadFailure(fallbacks: ProviderFallback[]): InferenceError {
  const reasons = fallbacks.map((f) => `${f.provider}: ${f.reason}`).join('; ');
  // The CPU provider is always there: when it fails too, the model is at fault, not a provider.
  const cpu = fallbacks.find((f) => f.provider === 'cpu');
  return cpu !== undefined
    ? new InferenceError('INFERENCE_MODEL_INVALID', `onnxruntime cannot load the model: ${cpu.reason}`, {
        details: { fallbacks },
      })
    : new InferenceError(
        'INFERENCE_PROVIDER_FAILED',
        `no execution provider could load the model: ${reasons}`,
        {
          details: { fallbacks },
        },
      );
}

interface Pending {
  resolve: (result: ExecutionResult) => void;
  reject: (error: Error) => void;
}

type WorkerMessage =
  | {
      type: 'loaded';
      provider: string;
      fallbacks: ProviderFallback[];
      inputs: OrtTensorMetadata[];
      outputs: OrtTensorMetadata[];
    }
  | { type: 'load-failed'; fallbacks: ProviderFallback[] }
  | {
      type: 'result';
      id: number;
      outputs: Record<string, WireTensor>;
      input: number;
      infer: number;
      output: number;
    }
  | { type: 'run-failed'; id: number; message: string };

/**
 * One onnxruntime session in a worker thread of its own: `run()` blocks only that thread. Created once;
 * `close()` terminates the thread (the session's memory goes with it).
 */
export class SessionWorker implements SessionRunner {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | undefined;
  private loadWaiter:
    { resolve: (loaded: LoadedSession) => void; reject: (error: Error) => void } | undefined;
  private closed = false;

  private constructor(label: string) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, name: label, workerData: { ortPath: ORT_PATH } });
    this.worker.on('message', (message: WorkerMessage) => this.onMessage(message));
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => {
      if (!this.closed) this.fail(new Error(`the session worker exited (code ${code})`));
    });
  }

  /**
   * Starts a worker and creates the session, trying `providers` in order (each with the rest behind it);
   * `strict` stops at the first. Rejects with `INFERENCE_PROVIDER_FAILED` (every provider's reason) or
   * `INFERENCE_MODEL_INVALID`.
   */
  static async start(
    label: string,
    modelPath: string,
    providers: readonly ProviderSpec[],
    options: SessionOptions & { strict: boolean },
  ): Promise<{ worker: SessionWorker; loaded: LoadedSession }> {
    const worker = new SessionWorker(label);
    const { strict, ...sessionOptions } = options;
    try {
      const loaded = await new Promise<LoadedSession>((resolve, reject) => {
        worker.loadWaiter = { resolve, reject };
        worker.worker.postMessage({ type: 'load', modelPath, providers, strict, options: sessionOptions });
      });
      return { worker, loaded };
    } catch (error) {
      await worker.close();
      throw error;
    }
  }

  /**
   * Runs one execution; rejects with `INFERENCE_INVALID_ARGUMENT` for onnxruntime's own refusals. With
   * `move`, the inputs' `ArrayBuffer`s (which the request owns) are transferred to the worker (detached
   * here) instead of copied.
   */
  run(feeds: Record<string, WireTensor>, fetches: readonly string[], move = false): Promise<ExecutionResult> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const transfer: ArrayBuffer[] = [];
    for (const feed of Object.values(feeds)) {
      const view = feed.data;
      if (!ArrayBuffer.isView(view)) continue;
      const buffer = view.buffer;
      if (move && buffer instanceof ArrayBuffer) {
        // The request owns its buffers (the decoders and the batcher make it so; several inputs may be
        // views of one request body read into a buffer of its own): moved, not copied.
        if (!transfer.includes(buffer)) transfer.push(buffer);
        continue;
      }
      // Not the request's to give (a view into a larger, shared buffer): copied out.
      const copy = new Uint8Array(view.byteLength);
      copy.set(new Uint8Array(buffer, view.byteOffset, view.byteLength));
      const Ctor = view.constructor as new (buffer: ArrayBuffer) => ArrayBufferView;
      feed.data = new Ctor(copy.buffer);
      transfer.push(copy.buffer);
    }
    return new Promise<ExecutionResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'run', id, feeds, fetches }, transfer);
    });
  }

  /** True until the worker died or was closed. */
  get alive(): boolean {
    return !this.failure && !this.closed;
  }

  /** Terminates the thread; pending executions fail. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.fail(new InferenceError('INFERENCE_UNAVAILABLE', 'the model instance was stopped'));
    await this.worker.terminate();
  }

  private onMessage(message: WorkerMessage): void {
    switch (message.type) {
      case 'loaded':
        this.loadWaiter?.resolve(message);
        this.loadWaiter = undefined;
        return;
      case 'load-failed':
        this.loadWaiter?.reject(loadFailure(message.fallbacks));
        this.loadWaiter = undefined;
        return;
      case 'result': {
        const pending = this.pending.get(message.id);
        this.pending.delete(message.id);
        pending?.resolve({
          outputs: message.outputs,
          inputNs: message.input,
          inferNs: message.infer,
          outputNs: message.output,
        });
        return;
      }
      case 'run-failed': {
        const pending = this.pending.get(message.id);
        this.pending.delete(message.id);
        pending?.reject(new InferenceError('INFERENCE_INVALID_ARGUMENT', `onnxruntime: ${message.message}`));
        return;
      }
    }
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.loadWaiter?.reject(
      new InferenceError('INFERENCE_WORKER_FAILED', `session worker failed: ${error.message}`, {
        cause: error,
      }),
    );
    this.loadWaiter = undefined;
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }
}
