import { InferenceError, invalid, isInferenceError } from '../errors/inference-error.js';
import {
  DATATYPES,
  datatypeOfOrt,
  elementCount,
  formatShape,
  type Datatype,
  type Tensor,
  type TensorData,
} from '../model/datatypes.js';
import { tensorDatatype, type ModelConfig } from '../model/model-config.js';
import { elapsedNs as ns, nowNs as now } from './clock.js';
import { ModelStats, type FailureReason } from './model-stats.js';
import type { ExecutionResult, LoadedSession, SessionRunner, WireTensor } from './session-worker.js';

/**
 * What cancelling a queued request needs: an `AbortSignal` is one, and a frontend may pass a cheaper
 * object of its own (one per request on the hot path).
 */
export interface CancelSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** A named tensor in a request or a response. */
export interface NamedTensor extends Tensor {
  name: string;
}

/** One inference request, already decoded from its transport. */
export interface InferenceRequest {
  inputs: NamedTensor[];
  /** Outputs to return; undefined = every output of the model. */
  outputs?: readonly string[] | undefined;
  /** 1 = highest; 0 or undefined = the default level (lowest). */
  priority?: number | undefined;
  /** Microseconds the request may wait in the queue; undefined = the model's default. */
  timeoutUs?: number | undefined;
  /** Aborting removes the request from the queue (a client that went away, a gRPC deadline). */
  signal?: CancelSignal | undefined;
  /**
   * The inputs' data and the whole `ArrayBuffer`s under them belong to this request alone (a frontend
   * decoded them): those buffers may be moved to the session's worker, leaving them detached, instead of
   * copied.
   */
  ownsInputs?: boolean | undefined;
}

/** The outputs of one request, in the order asked for (or the model's order). */
export interface InferenceResult {
  outputs: NamedTensor[];
}

interface Queued {
  request: InferenceRequest;
  batch: number;
  /** Key of what may share an execution: non-batch shapes and requested outputs. */
  key: string;
  fetches: readonly string[];
  priority: number;
  enqueued: number;
  timer: NodeJS.Timeout | undefined;
  onAbort: (() => void) | undefined;
  resolve: (result: InferenceResult) => void;
  reject: (error: Error) => void;
}

/** One loaded instance: a worker, and whether it is executing. */
interface Instance {
  worker: SessionRunner;
  busy: boolean;
  provider: string;
}

/** The state of a model version, in Triton's repository index terms. */
export type VersionState = 'LOADING' | 'READY' | 'UNLOADING' | 'UNAVAILABLE';

/**
 * A loaded version of a model: its instances (one session worker each), the request queue with
 * dynamic batching, queue bounds and timeouts, and its statistics.
 */
export class ModelVersion {
  readonly stats = new ModelStats();
  state: VersionState = 'READY';
  private readonly queue: Queued[] = [];
  private readonly inputsByName: Map<string, { datatype: Datatype; dims: number[] }>;
  private readonly outputNames: string[];
  private delayTimer: NodeJS.Timeout | undefined;
  private executing = 0;
  /** Rows in the last batch executed; until the first, the batcher waits the full delay (Triton). */
  private lastBatchRows = Number.POSITIVE_INFINITY;
  private drainWaiters: (() => void)[] = [];
  private readonly maxQueueSize: number;
  private readonly defaultTimeoutUs: number;

  constructor(
    readonly name: string,
    readonly version: number,
    readonly config: ModelConfig,
    private readonly instances: Instance[],
    /** What the first instance's load reported (provider and fallbacks). */
    readonly session: LoadedSession,
    limits: { maxQueueSize: number },
  ) {
    this.inputsByName = new Map(
      config.input.map((t) => [t.name, { datatype: tensorDatatype(t), dims: t.dims }]),
    );
    this.outputNames = config.output.map((t) => t.name);
    const policy = config.dynamic_batching?.default_queue_policy;
    this.maxQueueSize = policy ? policy.max_queue_size : limits.maxQueueSize;
    this.defaultTimeoutUs = policy?.default_timeout_microseconds ?? 0;
  }

  /** Requests waiting for an instance. */
  get pendingCount(): number {
    return this.queue.length;
  }

  /** Requests waiting or executing. */
  get inFlight(): number {
    return this.queue.length + this.executing;
  }

  /** False once every instance's worker has died (the version can no longer serve). */
  get healthy(): boolean {
    return this.instances.some((instance) => instance.worker.alive);
  }

  /** The execution provider serving this version (`cpu`, `cuda`, …). */
  get provider(): string {
    return this.session.provider;
  }

  /** Validates a request against the configuration and queues it. */
  infer(request: InferenceRequest): Promise<InferenceResult> {
    const started = now();
    if (this.state !== 'READY') {
      return Promise.reject(
        new InferenceError(
          'INFERENCE_NOT_READY',
          `model "${this.name}" version ${this.version} is not ready (${this.state.toLowerCase()})`,
        ),
      );
    }
    let queued: Queued;
    try {
      const { batch, key, fetches } = this.validate(request);
      if (this.maxQueueSize > 0 && this.queue.length >= this.maxQueueSize) {
        this.stats.recordFailure('REJECTED', 0);
        return Promise.reject(
          new InferenceError(
            'INFERENCE_QUEUE_FULL',
            `Exceeds maximum queue size: model "${this.name}" already has ${this.queue.length} requests waiting`,
          ),
        );
      }
      queued = {
        request,
        batch,
        key,
        fetches,
        priority: request.priority && request.priority > 0 ? request.priority : Number.MAX_SAFE_INTEGER,
        enqueued: started,
        timer: undefined,
        onAbort: undefined,
        resolve: () => undefined,
        reject: () => undefined,
      };
    } catch (error) {
      this.stats.recordFailure('OTHER', ns(started));
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    if (request.signal?.aborted) {
      this.stats.recordFailure('CANCELED', ns(started));
      return Promise.reject(
        new InferenceError('INFERENCE_CANCELLED', 'the request was cancelled before it was queued'),
      );
    }
    return new Promise<InferenceResult>((resolve, reject) => {
      queued.resolve = resolve;
      queued.reject = reject;
      const timeoutUs = request.timeoutUs ?? this.defaultTimeoutUs;
      if (timeoutUs > 0) {
        queued.timer = setTimeout(
          () => {
            if (this.remove(queued)) {
              this.stats.recordFailure('REJECTED', ns(queued.enqueued));
              reject(
                new InferenceError(
                  'INFERENCE_TIMEOUT',
                  `Request timeout expired: waited ${timeoutUs} µs in the queue of model "${this.name}"`,
                ),
              );
            }
          },
          Math.max(1, Math.ceil(timeoutUs / 1000)),
        );
      }
      if (request.signal) {
        const signal = request.signal;
        queued.onAbort = () => {
          if (this.remove(queued)) {
            this.stats.recordFailure('CANCELED', ns(queued.enqueued));
            reject(
              new InferenceError(
                'INFERENCE_CANCELLED',
                'the request was cancelled while queued (client gone or deadline passed)',
              ),
            );
          }
        };
        signal.addEventListener('abort', queued.onAbort, { once: true });
      }
      // Stable insertion by priority (1 highest), arrival order within a level.
      let index = this.queue.length;
      while (index > 0 && this.queue[index - 1]!.priority > queued.priority) index -= 1;
      this.queue.splice(index, 0, queued);
      this.dispatch();
    });
  }

  /** Stops taking requests and resolves once queued and executing ones are done. */
  drain(): Promise<void> {
    if (this.state === 'READY') this.state = 'UNLOADING';
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Drains, then terminates every instance's worker. */
  async unload(): Promise<void> {
    await this.drain();
    await Promise.all(this.instances.map((instance) => instance.worker.close()));
    this.state = 'UNAVAILABLE';
  }

  private validate(request: InferenceRequest): { batch: number; key: string; fetches: readonly string[] } {
    const batched = this.config.max_batch_size > 0;
    const inputs = request.inputs;
    let batch = 1;
    // The batching key (non-batch shapes and outputs) matters only to the dynamic batcher.
    const keyParts: string[] | undefined = this.config.dynamic_batching ? [] : undefined;
    for (let i = 0; i < inputs.length; i += 1) {
      const input = inputs[i]!;
      const expected = this.inputsByName.get(input.name);
      if (!expected) {
        throw invalid(
          `unexpected inference input '${input.name}' for model '${this.name}' (its inputs: ${[...this.inputsByName.keys()].join(', ')})`,
        );
      }
      for (let j = 0; j < i; j += 1)
        if (inputs[j]!.name === input.name) throw invalid(`input '${input.name}' is given twice`);
      if (input.datatype !== expected.datatype) {
        throw invalid(
          `inference input '${input.name}' data-type is '${input.datatype}', but model '${this.name}' expects '${expected.datatype}'`,
        );
      }
      const dims = expected.dims;
      const shape = input.shape;
      const offset = batched ? 1 : 0;
      let matches = shape.length === dims.length + offset;
      for (let d = 0; matches && d < dims.length; d += 1)
        matches = dims[d] === -1 || dims[d] === shape[d + offset];
      if (!matches) {
        const want = batched ? [-1, ...dims] : dims;
        throw invalid(
          `unexpected shape for input '${input.name}' for model '${this.name}'. Expected ${formatShape(want)}, got ${formatShape(shape)}`,
        );
      }
      if (batched) {
        const size = shape[0]!;
        if (size < 1 || size > this.config.max_batch_size) {
          throw invalid(
            `inference request batch-size ${size} for input '${input.name}' must be between 1 and the maximum batch size ${this.config.max_batch_size} of model '${this.name}'`,
          );
        }
        if (i > 0 && size !== batch)
          throw invalid(`input '${input.name}' has batch size ${size} but an earlier input has ${batch}`);
        batch = size;
        keyParts?.push(`${input.name}:${shape.slice(1).join('x')}`);
      }
    }
    // Every input given once and each one known: the counts agree exactly when none is missing.
    if (inputs.length !== this.inputsByName.size) {
      for (const name of this.inputsByName.keys()) {
        if (!inputs.some((input) => input.name === name))
          throw invalid(
            `expected ${this.inputsByName.size} inputs but got ${inputs.length} inputs for model '${this.name}': input '${name}' is missing`,
          );
      }
    }
    const fetches = request.outputs ?? this.outputNames;
    if (request.outputs) {
      const fetchSeen = new Set<string>();
      for (const name of fetches) {
        if (!this.outputNames.includes(name)) {
          throw invalid(
            `unexpected inference output '${name}' for model '${this.name}' (its outputs: ${this.outputNames.join(', ')})`,
          );
        }
        if (fetchSeen.has(name)) throw invalid(`output '${name}' is requested twice`);
        fetchSeen.add(name);
      }
    }
    if (!keyParts) return { batch, key: '', fetches };
    keyParts.sort();
    return { batch, key: `${keyParts.join(';')}|${fetches.join(',')}`, fetches };
  }

  private remove(queued: Queued): boolean {
    const index = this.queue.indexOf(queued);
    if (index < 0) return false;
    this.queue.splice(index, 1);
    this.settle(queued);
    this.checkDrained();
    return true;
  }

  private settle(queued: Queued): void {
    if (queued.timer) clearTimeout(queued.timer);
    if (queued.onAbort) queued.request.signal?.removeEventListener('abort', queued.onAbort);
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let instance: Instance | undefined;
      for (const candidate of this.instances) {
        if (!candidate.busy && candidate.worker.alive) {
          instance = candidate;
          break;
        }
      }
      if (!instance) {
        if (!this.instances.some((candidate) => candidate.worker.alive)) this.failAll();
        return;
      }
      const group = this.takeBatch();
      if (!group) return;
      void this.execute(instance, group);
    }
  }

  /** The next batch to run, or undefined when the batcher should wait for more requests. */
  private takeBatch(): Queued[] | undefined {
    const batching = this.config.dynamic_batching;
    const first = this.queue[0]!;
    if (!batching) {
      this.queue.shift();
      return [first];
    }
    const max = this.config.max_batch_size;
    const picked: number[] = [0];
    let total = first.batch;
    for (let index = 1; index < this.queue.length && total < max; index += 1) {
      const candidate = this.queue[index]!;
      if (candidate.key === first.key && total + candidate.batch <= max) {
        picked.push(index);
        total += candidate.batch;
      }
    }
    const preferred = batching.preferred_batch_size;
    // Waiting for more stops once the batch holds as many rows as the previous execution had: that is
    // the concurrency the batcher has seen, so a lone client (batches of 1) never waits for the delay
    // after its first request, and concurrent clients still meet in one execution.
    const full =
      total >= max ||
      total >= this.lastBatchRows ||
      (preferred.length > 0 && preferred.includes(total) && total >= Math.max(...preferred));
    const delayNs = batching.max_queue_delay_microseconds * 1000;
    const waited = ns(first.enqueued);
    if (!full && delayNs > 0 && waited < delayNs) {
      if (!this.delayTimer) {
        this.delayTimer = setTimeout(
          () => {
            this.delayTimer = undefined;
            this.dispatch();
          },
          Math.max(1, Math.ceil((delayNs - waited) / 1e6)),
        );
      }
      return undefined;
    }
    const group = picked.map((index) => this.queue[index]!);
    for (let i = picked.length - 1; i >= 0; i -= 1) this.queue.splice(picked[i]!, 1);
    return group;
  }

  private async execute(instance: Instance, group: Queued[]): Promise<void> {
    instance.busy = true;
    this.executing += group.length;
    const dispatched = now();
    for (const queued of group) this.settle(queued);
    const total = group.reduce((sum, queued) => sum + queued.batch, 0);
    this.lastBatchRows = total;
    const fetches = group[0]!.fetches;
    try {
      const feeds = this.buildFeeds(group, total);
      // A batch of several is concatenated into fresh buffers, which can always be moved.
      const move = group.length > 1 || group[0]!.request.ownsInputs === true;
      const result = await instance.worker.run(feeds, fetches, move);
      const split = this.splitOutputs(result, group, total);
      this.stats.recordExecution(total, result.inputNs, result.inferNs, result.outputNs);
      const done = now();
      group.forEach((queued, index) => {
        this.stats.recordSuccess(
          queued.batch,
          ns(queued.enqueued, done),
          ns(queued.enqueued, dispatched),
          result.inputNs,
          result.inferNs,
          result.outputNs,
        );
        queued.resolve(split[index]!);
      });
    } catch (error) {
      const failure = isInferenceError(error)
        ? error
        : new InferenceError('INFERENCE_INTERNAL', `execution failed: ${(error as Error).message}`, {
            cause: error,
          });
      const reason: FailureReason = isInferenceError(error, 'INFERENCE_INVALID_ARGUMENT')
        ? 'BACKEND'
        : 'OTHER';
      for (const queued of group) {
        this.stats.recordFailure(reason, ns(queued.enqueued));
        queued.reject(failure);
      }
    } finally {
      instance.busy = false;
      this.executing -= group.length;
      this.dispatch();
      this.checkDrained();
    }
  }

  private buildFeeds(group: Queued[], total: number): Record<string, WireTensor> {
    const feeds: Record<string, WireTensor> = {};
    if (group.length === 1) {
      // One request: its tensors as they are (validated: every input once, datatypes the model's).
      for (const input of group[0]!.request.inputs) {
        feeds[input.name] = {
          type: ortType(input.datatype, input.name),
          dims: input.shape,
          data: input.data,
        };
      }
      return feeds;
    }
    for (const [name, expected] of this.inputsByName) {
      const parts = group.map((queued) => queued.request.inputs.find((input) => input.name === name)!);
      feeds[name] = {
        type: ortType(expected.datatype, name),
        dims: [total, ...parts[0]!.shape.slice(1)],
        data: concat(
          parts.map((part) => part.data),
          expected.datatype,
        ),
      };
    }
    return feeds;
  }

  private splitOutputs(result: ExecutionResult, group: Queued[], total: number): InferenceResult[] {
    const results: InferenceResult[] = group.map(() => ({ outputs: [] }));
    for (const name of group[0]!.fetches) {
      const tensor = result.outputs[name];
      if (!tensor) throw new InferenceError('INFERENCE_INTERNAL', `onnxruntime returned no output '${name}'`);
      const datatype = datatypeOfOrt(tensor.type);
      if (!datatype)
        throw new InferenceError(
          'INFERENCE_UNSUPPORTED',
          `output '${name}' has onnxruntime type ${tensor.type}, which V2 cannot carry`,
        );
      const data = tensor.data as TensorData;
      if (group.length === 1) {
        results[0]!.outputs.push({ name, datatype, shape: tensor.dims, data });
        continue;
      }
      if (tensor.dims[0] !== total) {
        throw new InferenceError(
          'INFERENCE_INTERNAL',
          `output '${name}' has first dimension ${tensor.dims[0]}, not the batch size ${total}`,
        );
      }
      const per = elementCount(tensor.dims.slice(1));
      let offset = 0;
      group.forEach((queued, index) => {
        const count = queued.batch * per;
        results[index]!.outputs.push({
          name,
          datatype,
          shape: [queued.batch, ...tensor.dims.slice(1)],
          data: data.slice(offset, offset + count),
        });
        offset += count;
      });
    }
    return results;
  }

  private failAll(): void {
    const error = new InferenceError(
      'INFERENCE_UNAVAILABLE',
      `model "${this.name}" version ${this.version} has no running instance`,
    );
    for (const queued of this.queue.splice(0)) {
      this.settle(queued);
      this.stats.recordFailure('OTHER', ns(queued.enqueued));
      queued.reject(error);
    }
    this.checkDrained();
  }

  private checkDrained(): void {
    if (this.inFlight > 0 || this.drainWaiters.length === 0) return;
    if (this.delayTimer) clearTimeout(this.delayTimer);
    this.delayTimer = undefined;
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }
}

/** onnxruntime's tensor type for a V2 datatype; `INFERENCE_UNSUPPORTED` where it has none. */
function ortType(datatype: Datatype, input: string): string {
  const ort = DATATYPES[datatype].ort;
  if (!ort)
    throw new InferenceError(
      'INFERENCE_UNSUPPORTED',
      `onnxruntime has no ${datatype} tensors (input '${input}')`,
    );
  return ort;
}

function concat(parts: TensorData[], datatype: Datatype): TensorData {
  if (datatype === 'BYTES') return (parts as string[][]).flat();
  const length = parts.reduce((sum, part) => sum + part.length, 0);
  const Ctor = DATATYPES[datatype].array!;
  const out = new Ctor(length);
  let offset = 0;
  for (const part of parts) {
    (out as Uint8Array).set(part as Uint8Array, offset);
    offset += part.length;
  }
  return out;
}
