/** A cumulative count and duration, as Triton's statistics report them. */
export interface StatDuration {
  count: number;
  ns: number;
}

/** Triton's `InferStatistics`. */
export interface InferStatistics {
  success: StatDuration;
  fail: StatDuration;
  queue: StatDuration;
  compute_input: StatDuration;
  compute_infer: StatDuration;
  compute_output: StatDuration;
  cache_hit: StatDuration;
  cache_miss: StatDuration;
}

/** Triton's `InferBatchStatistics`. */
export interface BatchStatistics {
  batch_size: number;
  compute_input: StatDuration;
  compute_infer: StatDuration;
  compute_output: StatDuration;
}

/** Why a request failed, in Triton's metric label values. */
export type FailureReason = 'REJECTED' | 'CANCELED' | 'BACKEND' | 'OTHER';

const zero = (): StatDuration => ({ count: 0, ns: 0 });

/** Counters of one model version: what `/stats` and the metrics report. */
export class ModelStats {
  inferenceCount = 0;
  executionCount = 0;
  lastInference = 0;
  readonly inference: InferStatistics = {
    success: zero(),
    fail: zero(),
    queue: zero(),
    compute_input: zero(),
    compute_infer: zero(),
    compute_output: zero(),
    cache_hit: zero(),
    cache_miss: zero(),
  };
  readonly failures: Record<FailureReason, number> = { REJECTED: 0, CANCELED: 0, BACKEND: 0, OTHER: 0 };
  readonly batches = new Map<number, BatchStatistics>();

  /** One execution of `requests` requests forming a batch of `batchSize`. */
  recordExecution(batchSize: number, inputNs: number, inferNs: number, outputNs: number): void {
    this.executionCount += 1;
    let batch = this.batches.get(batchSize);
    if (!batch) {
      batch = { batch_size: batchSize, compute_input: zero(), compute_infer: zero(), compute_output: zero() };
      this.batches.set(batchSize, batch);
    }
    add(batch.compute_input, inputNs);
    add(batch.compute_infer, inferNs);
    add(batch.compute_output, outputNs);
  }

  /** One request that succeeded: its share of the execution's compute times. */
  recordSuccess(
    batchSize: number,
    totalNs: number,
    queueNs: number,
    inputNs: number,
    inferNs: number,
    outputNs: number,
  ): void {
    this.inferenceCount += batchSize;
    this.lastInference = Date.now();
    add(this.inference.success, totalNs);
    add(this.inference.queue, queueNs);
    add(this.inference.compute_input, inputNs);
    add(this.inference.compute_infer, inferNs);
    add(this.inference.compute_output, outputNs);
  }

  recordFailure(reason: FailureReason, totalNs: number): void {
    this.failures[reason] += 1;
    add(this.inference.fail, totalNs);
  }
}

function add(stat: StatDuration, ns: number): void {
  stat.count += 1;
  stat.ns += Math.max(0, Math.round(ns));
}
