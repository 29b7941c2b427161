import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { InferenceError, type InferenceErrorCode } from '../errors/inference-error.js';
import type { Datatype, TensorData } from '../model/datatypes.js';
import type { ModelConfig } from '../model/model-config.js';
import type { ModelIndexEntry } from '../repository/model-manager.js';
import type { ModelMetadata, ModelStatistics, ServerMetadata } from '../server/protocol-objects.js';
import { decodeBinaryData, encodeBinaryData } from '../http/binary-tensor.js';
import { decodeJsonData } from '../http/tensor-json.js';

/** A tensor sent to or received from the server. */
export interface ClientTensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: TensorData;
}

/** Options of one inference call. */
export interface InferOptions {
  version?: string | number;
  /** Outputs to return (default all). */
  outputs?: string[];
  id?: string;
  /** Send inputs and ask for outputs in the binary format (default true). */
  binary?: boolean;
  /** Queue timeout in microseconds (Triton's `timeout` parameter). */
  timeoutUs?: number;
  /** 1 = highest. */
  priority?: number;
  signal?: AbortSignal;
}

/** A decoded inference response. */
export interface InferResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  outputs: ClientTensor[];
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

const CODE_BY_STATUS: Record<number, InferenceErrorCode> = {
  400: 'INFERENCE_INVALID_ARGUMENT',
  404: 'INFERENCE_NOT_FOUND',
  501: 'INFERENCE_UNSUPPORTED',
  503: 'INFERENCE_UNAVAILABLE',
};

/**
 * A typed client of the Open Inference Protocol over HTTP (this server, Triton, or any V2 server with
 * the binary tensor extension), on keep-alive connections.
 */
export class InferenceHttpClient {
  private readonly agent: Agent;
  private readonly base: URL;

  constructor(url: string, options: { maxSockets?: number } = {}) {
    this.base = new URL(url);
    this.agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 64 });
  }

  /** Closes the pooled connections. */
  close(): void {
    this.agent.destroy();
  }

  async live(): Promise<boolean> {
    return (await this.send('GET', '/v2/health/live')).status === 200;
  }

  async ready(): Promise<boolean> {
    return (await this.send('GET', '/v2/health/ready')).status === 200;
  }

  async modelReady(model: string, version?: string | number): Promise<boolean> {
    return (await this.send('GET', `${this.modelPath(model, version)}/ready`)).status === 200;
  }

  serverMetadata(): Promise<ServerMetadata> {
    return this.json('GET', '/v2');
  }

  modelMetadata(model: string, version?: string | number): Promise<ModelMetadata> {
    return this.json('GET', this.modelPath(model, version));
  }

  modelConfig(model: string, version?: string | number): Promise<ModelConfig> {
    return this.json('GET', `${this.modelPath(model, version)}/config`);
  }

  async statistics(model?: string, version?: string | number): Promise<ModelStatistics[]> {
    const path = model === undefined ? '/v2/models/stats' : `${this.modelPath(model, version)}/stats`;
    return (await this.json<{ model_stats: ModelStatistics[] }>('GET', path)).model_stats;
  }

  repositoryIndex(readyOnly = false): Promise<ModelIndexEntry[]> {
    return this.json('POST', '/v2/repository/index', JSON.stringify(readyOnly ? { ready: true } : {}));
  }

  async load(model: string, config?: unknown): Promise<void> {
    const body =
      config === undefined ? '' : JSON.stringify({ parameters: { config: JSON.stringify(config) } });
    await this.json('POST', `/v2/repository/models/${encodeURIComponent(model)}/load`, body);
  }

  async unload(model: string): Promise<void> {
    await this.json('POST', `/v2/repository/models/${encodeURIComponent(model)}/unload`, '');
  }

  /** Runs an inference; inputs go binary unless `binary: false`. */
  async infer(model: string, inputs: ClientTensor[], options: InferOptions = {}): Promise<InferResponse> {
    const binary = options.binary ?? true;
    const blobs: Uint8Array[] = [];
    const parameters: Record<string, unknown> = {};
    if (binary) parameters.binary_data_output = true;
    if (options.timeoutUs !== undefined) parameters.timeout = options.timeoutUs;
    if (options.priority !== undefined) parameters.priority = options.priority;
    const head = {
      ...(options.id !== undefined && { id: options.id }),
      parameters,
      inputs: inputs.map((input) => {
        if (!binary) {
          return {
            name: input.name,
            datatype: input.datatype,
            shape: input.shape,
            data: jsonData(input.data),
          };
        }
        const bytes = encodeBinaryData(input.datatype, input.data);
        blobs.push(bytes);
        return {
          name: input.name,
          datatype: input.datatype,
          shape: input.shape,
          parameters: { binary_data_size: bytes.length },
        };
      }),
      ...(options.outputs && {
        outputs: options.outputs.map((name) => ({ name, parameters: { binary_data: binary } })),
      }),
    };
    const json = Buffer.from(JSON.stringify(head), 'utf8');
    const headers: Record<string, string | number> = {
      'Content-Type': binary ? 'application/octet-stream' : 'application/json',
    };
    if (binary) headers['Inference-Header-Content-Length'] = json.length;
    const reply = await this.send(
      'POST',
      `${this.modelPath(model, options.version)}/infer`,
      [json, ...blobs],
      headers,
      options.signal,
    );
    if (reply.status !== 200) throw this.error(reply);
    const lengthHeader = reply.headers['inference-header-content-length'];
    const jsonLength = lengthHeader === undefined ? reply.body.length : Number(lengthHeader);
    const parsed = JSON.parse(reply.body.subarray(0, jsonLength).toString('utf8')) as {
      model_name: string;
      model_version?: string;
      id?: string;
      outputs: {
        name: string;
        datatype: Datatype;
        shape: number[];
        data?: unknown;
        parameters?: { binary_data_size?: number };
      }[];
    };
    let offset = jsonLength;
    const outputs = parsed.outputs.map((output) => {
      const size = output.parameters?.binary_data_size;
      let data: TensorData;
      if (size !== undefined) {
        data = decodeBinaryData(
          output.name,
          output.datatype,
          output.shape,
          reply.body.subarray(offset, offset + size),
        );
        offset += size;
      } else data = decodeJsonData(output.name, output.datatype, output.shape, output.data);
      return { name: output.name, datatype: output.datatype, shape: output.shape, data };
    });
    return { ...parsed, outputs };
  }

  private modelPath(model: string, version?: string | number): string {
    const base = `/v2/models/${encodeURIComponent(model)}`;
    return version === undefined ? base : `${base}/versions/${version}`;
  }

  private async json<T>(method: string, path: string, body?: string): Promise<T> {
    const reply = await this.send(method, path, body === undefined ? [] : [Buffer.from(body)], {
      'Content-Type': 'application/json',
    });
    if (reply.status !== 200) throw this.error(reply);
    return JSON.parse(reply.body.toString('utf8')) as T;
  }

  private error(reply: Reply): InferenceError {
    let message = `HTTP ${reply.status}`;
    try {
      const parsed = JSON.parse(reply.body.toString('utf8')) as { error?: unknown };
      if (typeof parsed.error === 'string') message = parsed.error;
    } catch {
      // Not JSON: the status says it.
    }
    return new InferenceError(CODE_BY_STATUS[reply.status] ?? 'INFERENCE_INTERNAL', message, {
      details: { status: reply.status },
    });
  }

  private send(
    method: string,
    path: string,
    chunks: Uint8Array[] = [],
    headers: Record<string, string | number> = {},
    signal?: AbortSignal,
  ): Promise<Reply> {
    const length = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    return new Promise<Reply>((resolve, reject) => {
      const req = httpRequest(
        {
          host: this.base.hostname,
          port: this.base.port,
          method,
          path,
          agent: this.agent,
          headers: { ...headers, 'Content-Length': length },
          ...(signal && { signal }),
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (chunk: Buffer) => parts.push(chunk));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      for (const chunk of chunks) req.write(chunk);
      req.end();
    });
  }
}

function jsonData(data: TensorData): unknown[] {
  if (Array.isArray(data)) return data;
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Array.from(data, Number);
  return Array.from(data as Float64Array);
}
