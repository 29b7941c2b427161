import {
  InferenceGrpcClient,
  InferenceHttpClient,
  type ClientTensor,
  type InferResponse,
} from '@beamline/plugin-inference';
import type { TracccEvent } from './events.js';

/** The four outputs of `traccc-gpu` for one event. */
export interface TracccResult {
  trackParams: Float32Array;
  measurements: Float32Array;
  covariances: Float32Array;
  geometryIds: BigInt64Array;
}

const OUTPUTS = ['TRK_PARAMS', 'MEASUREMENTS', 'COVARIANCES', 'GEOMETRY_IDS'];

function inputs(event: TracccEvent): ClientTensor[] {
  return [
    { name: 'CELL_POSITIONS', datatype: 'INT64', shape: [event.cells, 4], data: event.positions },
    { name: 'CELL_PROPERTIES', datatype: 'FP32', shape: [event.cells, 2], data: event.properties },
  ];
}

function result(reply: InferResponse): TracccResult {
  const get = (name: string) => {
    const output = reply.outputs.find((o) => o.name === name);
    if (!output) throw new Error(`the reply has no output ${name}`);
    return output.data;
  };
  return {
    trackParams: get('TRK_PARAMS') as Float32Array,
    measurements: get('MEASUREMENTS') as Float32Array,
    covariances: get('COVARIANCES') as Float32Array,
    geometryIds: get('GEOMETRY_IDS') as BigInt64Array,
  };
}

/**
 * traccc-aaS's client, in TypeScript: one event's cells in, the four outputs back, from model
 * `traccc-gpu`, over gRPC (as `TracccTritonClient.py` does, `localhost:8001`) or HTTP with binary tensors.
 */
export class TracccClient {
  private readonly grpc: InferenceGrpcClient | undefined;
  private readonly http: InferenceHttpClient | undefined;

  constructor(
    target: { grpc: string } | { http: string },
    private readonly model = 'traccc-gpu',
  ) {
    if ('grpc' in target) this.grpc = new InferenceGrpcClient(target.grpc);
    else this.http = new InferenceHttpClient(target.http);
  }

  async reconstruct(event: TracccEvent): Promise<TracccResult> {
    const reply = this.grpc
      ? await this.grpc.infer(this.model, inputs(event), { outputs: OUTPUTS })
      : await this.http!.infer(this.model, inputs(event), { outputs: OUTPUTS });
    return result(reply);
  }

  close(): void {
    this.grpc?.close();
    this.http?.close();
  }
}
