import * as grpc from '@grpc/grpc-js';
import { InferenceError, invalid, type InferenceErrorCode } from '../errors/inference-error.js';
import { inferenceService } from '../grpc/grpc-frontend.js';
import type { InferMessage, WireInferResponse } from '../grpc/infer-messages.js';
import { decodeBinaryData, encodeBinaryData } from '../http/binary-tensor.js';
import { isDatatype } from '../model/datatypes.js';
import type { ModelIndexEntry } from '../repository/model-manager.js';
import type { ModelMetadata, ServerMetadata } from '../server/protocol-objects.js';
import type { ClientTensor, InferOptions, InferResponse } from './http-client.js';

const CODE_BY_STATUS: Partial<Record<grpc.status, InferenceErrorCode>> = {
  [grpc.status.INVALID_ARGUMENT]: 'INFERENCE_INVALID_ARGUMENT',
  [grpc.status.NOT_FOUND]: 'INFERENCE_NOT_FOUND',
  [grpc.status.UNAVAILABLE]: 'INFERENCE_UNAVAILABLE',
  [grpc.status.UNIMPLEMENTED]: 'INFERENCE_UNSUPPORTED',
  [grpc.status.DEADLINE_EXCEEDED]: 'INFERENCE_TIMEOUT',
  [grpc.status.CANCELLED]: 'INFERENCE_CANCELLED',
};

type Unary = (
  request: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response: unknown) => void,
) => grpc.ClientUnaryCall;

/** Options of one gRPC inference call. */
export interface GrpcInferOptions extends Omit<InferOptions, 'binary'> {
  /** Milliseconds until the call's deadline (the server drops the request from its queue when it passes). */
  deadlineMs?: number;
}

/**
 * A typed client of `inference.GRPCInferenceService` (this server, Triton, or any V2 gRPC server):
 * inputs go in `raw_input_contents`, outputs come back from `raw_output_contents`.
 */
export class InferenceGrpcClient {
  private readonly client: grpc.Client;

  constructor(target: string) {
    const Service = grpc.makeGenericClientConstructor(inferenceService(), 'GRPCInferenceService');
    this.client = new Service(target, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': -1,
    });
  }

  close(): void {
    this.client.close();
  }

  async live(): Promise<boolean> {
    return ((await this.call('ServerLive', {})) as { live: boolean }).live;
  }

  async ready(): Promise<boolean> {
    return ((await this.call('ServerReady', {})) as { ready: boolean }).ready;
  }

  async modelReady(model: string, version?: string | number): Promise<boolean> {
    return (
      (await this.call('ModelReady', {
        name: model,
        version: version === undefined ? '' : String(version),
      })) as { ready: boolean }
    ).ready;
  }

  async serverMetadata(): Promise<ServerMetadata> {
    return (await this.call('ServerMetadata', {})) as ServerMetadata;
  }

  async modelMetadata(model: string, version?: string | number): Promise<ModelMetadata> {
    type WireTensor = { name: string; datatype: string; shape: string[] };
    const reply = (await this.call('ModelMetadata', {
      name: model,
      version: version === undefined ? '' : String(version),
    })) as Omit<ModelMetadata, 'inputs' | 'outputs'> & { inputs: WireTensor[]; outputs: WireTensor[] };
    const tensors = (list: WireTensor[]) =>
      list.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape.map(Number) }));
    return { ...reply, inputs: tensors(reply.inputs), outputs: tensors(reply.outputs) };
  }

  /** The model configuration as the proto carries it (enums as names, 64-bit integers as strings). */
  async modelConfig(model: string, version?: string | number): Promise<Record<string, unknown>> {
    return (
      (await this.call('ModelConfig', {
        name: model,
        version: version === undefined ? '' : String(version),
      })) as { config: Record<string, unknown> }
    ).config;
  }

  /** Statistics as the proto carries them (64-bit counters as strings). */
  async statistics(model = '', version?: string | number): Promise<Record<string, unknown>[]> {
    return (
      (await this.call('ModelStatistics', {
        name: model,
        version: version === undefined ? '' : String(version),
      })) as { model_stats: Record<string, unknown>[] }
    ).model_stats;
  }

  async repositoryIndex(readyOnly = false): Promise<ModelIndexEntry[]> {
    const reply = (await this.call('RepositoryIndex', { ready: readyOnly })) as { models: ModelIndexEntry[] };
    return reply.models.map((m) => ({
      name: m.name,
      ...(m.version && { version: m.version }),
      state: m.state,
      reason: m.reason,
    }));
  }

  async load(model: string, config?: unknown): Promise<void> {
    await this.call('RepositoryModelLoad', {
      model_name: model,
      parameters: config === undefined ? {} : { config: { string_param: JSON.stringify(config) } },
    });
  }

  async unload(model: string): Promise<void> {
    await this.call('RepositoryModelUnload', { model_name: model });
  }

  /** Runs an inference with raw tensors. */
  async infer(model: string, inputs: ClientTensor[], options: GrpcInferOptions = {}): Promise<InferResponse> {
    const parameters: Record<string, number> = {};
    if (options.timeoutUs !== undefined) parameters.timeout = options.timeoutUs;
    if (options.priority !== undefined) parameters.priority = options.priority;
    for (const [key, value] of Object.entries(parameters)) {
      if (!Number.isSafeInteger(value) || value < 0)
        throw invalid(`${key} must be a non-negative integer, got ${value}`);
    }
    for (const input of inputs) {
      if (!input.shape.every((dim) => Number.isSafeInteger(dim) && dim >= 0))
        throw invalid(
          `input '${input.name}': shape must be non-negative integers, got [${input.shape.join(', ')}]`,
        );
    }
    const request: InferMessage = {
      model_name: model,
      model_version: options.version === undefined ? '' : String(options.version),
      id: options.id ?? '',
      parameters,
      tensors: inputs,
      outputs: options.outputs ?? [],
      raw: inputs.map((input) => encodeBinaryData(input.datatype, input.data)),
    };
    const reply = (await this.call(
      'ModelInfer',
      request,
      options.deadlineMs,
      options.signal,
    )) as WireInferResponse;
    return {
      model_name: reply.model_name,
      model_version: reply.model_version,
      ...(reply.id && { id: reply.id }),
      outputs: reply.outputs.map((output, index) => {
        const shape = output.shape;
        if (!isDatatype(output.datatype))
          throw new InferenceError(
            'INFERENCE_INTERNAL',
            `the server answered output '${output.name}' with the datatype "${output.datatype}"`,
          );
        return {
          name: output.name,
          datatype: output.datatype,
          shape,
          data: decodeBinaryData(
            output.name,
            output.datatype,
            shape,
            reply.raw_output_contents[index] ?? Buffer.alloc(0),
          ),
        };
      }),
    };
  }

  private call(
    method: string,
    request: unknown,
    deadlineMs?: number,
    signal?: AbortSignal,
  ): Promise<unknown> {
    const fn = (this.client as unknown as Record<string, Unary>)[method]!.bind(this.client);
    return new Promise((resolve, reject) => {
      const options: grpc.CallOptions = deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs };
      const call = fn(request, new grpc.Metadata(), options, (error, response) => {
        signal?.removeEventListener('abort', onAbort);
        if (error) {
          reject(
            new InferenceError(
              CODE_BY_STATUS[error.code] ?? 'INFERENCE_INTERNAL',
              error.details || error.message,
              {
                details: { grpcStatus: error.code },
              },
            ),
          );
        } else resolve(response);
      });
      const onAbort = (): void => call.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
