import * as grpc from '@grpc/grpc-js';
import { fromJSON, type PackageDefinition } from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { InferenceError, isInferenceError, type InferenceErrorCode } from '../errors/inference-error.js';
import type { ModelConfig } from '../model/model-config.js';
import { RequestCancel } from '../runtime/cancel-signal.js';
import type { InferenceCore } from '../server/inference-core.js';
import type { ModelStatistics } from '../server/protocol-objects.js';
import { decodeGrpcInfer, encodeGrpcInfer } from './grpc-codec.js';
import {
  decodeInferResponse,
  deserializeInferRequest,
  encodeInferRequest,
  encodeInferResponse,
  type InferMessage,
  type MalformedMessage,
  type WireInferRequest,
} from './infer-messages.js';
import { INFERENCE_PROTO } from './inference-proto.js';

/** How the protocol's messages map to JavaScript: 64-bit integers as strings (exact), enums as names. */
const PROTO_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  arrays: true,
  oneofs: true,
} as const;

let definition: PackageDefinition | undefined;

/** The package definition of `inference.GRPCInferenceService` (parsed once). */
export function inferencePackage(): PackageDefinition {
  definition ??= fromJSON(protobuf.parse(INFERENCE_PROTO, { keepCase: true }).root.toJSON(), PROTO_OPTIONS);
  return definition;
}

/**
 * The service definition with `ModelInfer` on the package's static codec (`infer-messages.ts`) instead of
 * proto-loader's object conversion; the other methods keep proto-loader's (they are not on a hot path).
 * The server reads `WireInferRequest`s (or a `MalformedMessage`) and writes `InferMessage`s; the client
 * writes `InferMessage`s and reads `WireInferResponse`s.
 */
export function inferenceService(): grpc.ServiceDefinition {
  const service = (grpc.loadPackageDefinition(inferencePackage()).inference as grpc.GrpcObject)
    .GRPCInferenceService as grpc.ServiceClientConstructor;
  return {
    ...service.service,
    ModelInfer: {
      ...service.service.ModelInfer!,
      requestSerialize: encodeInferRequest,
      requestDeserialize: deserializeInferRequest,
      responseSerialize: encodeInferResponse,
      responseDeserialize: decodeInferResponse,
    },
  };
}

const STATUS: Record<InferenceErrorCode, grpc.status> = {
  INFERENCE_INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  INFERENCE_NOT_FOUND: grpc.status.NOT_FOUND,
  INFERENCE_NOT_READY: grpc.status.UNAVAILABLE,
  INFERENCE_UNSUPPORTED: grpc.status.UNIMPLEMENTED,
  INFERENCE_UNAVAILABLE: grpc.status.UNAVAILABLE,
  INFERENCE_QUEUE_FULL: grpc.status.UNAVAILABLE,
  INFERENCE_TIMEOUT: grpc.status.DEADLINE_EXCEEDED,
  INFERENCE_CANCELLED: grpc.status.CANCELLED,
  INFERENCE_CONFIG_INVALID: grpc.status.INVALID_ARGUMENT,
  INFERENCE_MODEL_INVALID: grpc.status.INVALID_ARGUMENT,
  INFERENCE_PROVIDER_FAILED: grpc.status.INVALID_ARGUMENT,
  INFERENCE_WORKER_FAILED: grpc.status.INTERNAL,
  INFERENCE_INTERNAL: grpc.status.INTERNAL,
};

function toServiceError(error: unknown): Partial<grpc.StatusObject> {
  if (isInferenceError(error)) return { code: STATUS[error.code], details: error.message };
  return {
    code: grpc.status.INTERNAL,
    details: `internal error: ${error instanceof Error ? error.message : String(error)}`,
  };
}

type Handler<Req> = (request: Req, call: grpc.ServerUnaryCall<Req, unknown>) => unknown;

function unary<Req>(handler: Handler<Req>): grpc.handleUnaryCall<Req, unknown> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => handler(call.request, call))
      .then(
        (response) => callback(null, response),
        (error: unknown) => callback(toServiceError(error)),
      );
  };
}

/** A `ModelConfig` in the proto's shape (oneofs as fields, maps as objects). */
function configMessage(config: ModelConfig): Record<string, unknown> {
  return {
    name: config.name,
    platform: config.platform,
    backend: config.backend,
    max_batch_size: config.max_batch_size,
    input: config.input.map((t) => ({ name: t.name, data_type: t.data_type, dims: t.dims })),
    output: config.output.map((t) => ({ name: t.name, data_type: t.data_type, dims: t.dims })),
    instance_group: config.instance_group,
    version_policy: config.version_policy,
    default_model_filename: config.default_model_filename,
    parameters: config.parameters,
    ...(config.dynamic_batching && { dynamic_batching: config.dynamic_batching }),
  };
}

function statisticsMessage(stats: ModelStatistics): Record<string, unknown> {
  return {
    name: stats.name,
    version: stats.version,
    last_inference: stats.last_inference,
    inference_count: stats.inference_count,
    execution_count: stats.execution_count,
    inference_stats: stats.inference_stats,
    batch_stats: stats.batch_stats,
  };
}

/**
 * `inference.GRPCInferenceService` on `@grpc/grpc-js`: health, metadata, `ModelInfer` (typed contents or
 * `raw_input_contents`; answers with `raw_output_contents`), configuration, statistics and repository
 * control. A cancelled call or a passed deadline takes a queued request out of the queue.
 */
export class GrpcFrontend {
  private readonly server: grpc.Server;

  constructor(private readonly core: InferenceCore) {
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': 64 * 1024 * 1024 + 1024,
      'grpc.max_send_message_length': -1,
    });
    this.server.addService(inferenceService(), this.handlers());
  }

  /** Binds (insecure) and resolves with `host:port`. */
  async listen(host: string, port: number): Promise<string> {
    const target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    const bound = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (error, actual) =>
        error ? reject(error) : resolve(actual),
      ),
    );
    return host.includes(':') ? `[${host}]:${bound}` : `${host}:${bound}`;
  }

  /** Stops taking calls, lets running ones finish (up to `graceMs`), then cancels the rest. */
  async close(graceMs: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      timer.unref();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private handlers(): grpc.UntypedServiceImplementation {
    const core = this.core;
    return {
      ServerLive: unary(() => ({ live: core.live })),
      ServerReady: unary(() => ({ ready: core.ready })),
      ModelReady: unary<{ name: string; version: string }>((request) => {
        try {
          core.resolve(request.name, request.version);
          return { ready: true };
        } catch (error) {
          if (isInferenceError(error, 'INFERENCE_NOT_READY')) return { ready: false };
          throw error;
        }
      }),
      ServerMetadata: unary(() => core.serverMetadata()),
      ModelMetadata: unary<{ name: string; version: string }>((request) =>
        core.modelMetadata(request.name, request.version || undefined),
      ),
      ModelConfig: unary<{ name: string; version: string }>((request) => ({
        config: configMessage(core.resolve(request.name, request.version).config),
      })),
      ModelStatistics: unary<{ name: string; version: string }>((request) => ({
        model_stats: core
          .statistics(request.name || undefined, request.version || undefined)
          .map(statisticsMessage),
      })),
      RepositoryIndex: unary<{ ready: boolean }>(async (request) => ({
        models: await core.repositoryIndex(request.ready),
      })),
      RepositoryModelLoad: unary<{
        model_name: string;
        parameters: Record<string, { string_param?: string; bytes_param?: Buffer }>;
      }>(async (request) => {
        const parameters: Record<string, unknown> = {};
        for (const [key, value] of Object.entries(request.parameters ?? {})) {
          parameters[key] =
            value.string_param ?? (value.bytes_param ? value.bytes_param.toString('base64') : undefined);
        }
        await core.loadModel(request.model_name, parameters);
        return {};
      }),
      RepositoryModelUnload: unary<{ model_name: string }>(async (request) => {
        await core.unloadModel(request.model_name, undefined);
        return {};
      }),
      ModelInfer: unary<WireInferRequest | MalformedMessage>(async (request, call): Promise<InferMessage> => {
        if ('malformed' in request) throw request.malformed;
        const target = core.resolve(request.model_name, request.model_version);
        const { id, request: decoded } = decodeGrpcInfer(request);
        const cancel = new RequestCancel();
        const onCancel = (): void => cancel.cancel();
        call.once('cancelled', onCancel);
        try {
          if (call.cancelled) throw new InferenceError('INFERENCE_CANCELLED', 'the call was cancelled');
          const result = await target.infer({ ...decoded, signal: cancel });
          return encodeGrpcInfer(target, id, result);
        } finally {
          call.off('cancelled', onCancel);
        }
      }),
    };
  }
}
