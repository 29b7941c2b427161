import { z } from 'zod';
import { invalid } from '../errors/inference-error.js';
import { DATATYPES, datatypeOfOrt, datatypeOfTriton, type Datatype } from './datatypes.js';
import type { PbMessage, PbValue } from './pbtxt.js';

/** One input or output of a model configuration (Triton's `ModelInput`/`ModelOutput`, as JSON). */
export interface TensorConfig {
  name: string;
  /** `TYPE_FP32` and the like. */
  data_type: string;
  /** Without the batch dimension when `max_batch_size > 0`; -1 for a variable dimension. */
  dims: number[];
}

/** An instance group: `count` sessions (worker threads) of one kind. */
export interface InstanceGroup {
  name: string;
  kind: 'KIND_AUTO' | 'KIND_CPU' | 'KIND_GPU';
  count: number;
  gpus: number[];
}

/** The dynamic batcher's queue policy. */
export interface QueuePolicy {
  /** 0 = unbounded. */
  max_queue_size: number;
  timeout_action: 'REJECT' | 'DELAY';
  /** 0 = no default timeout. */
  default_timeout_microseconds: number;
  allow_timeout_override: boolean;
}

/** Triton's `dynamic_batching` block. */
export interface DynamicBatching {
  preferred_batch_size: number[];
  max_queue_delay_microseconds: number;
  preserve_ordering: boolean;
  default_queue_policy?: QueuePolicy;
}

/** Which versions of a model are served. */
export type VersionPolicy =
  | { latest: { num_versions: number } }
  | { all: Record<string, never> }
  | { specific: { versions: number[] } };

/**
 * A model's configuration, in Triton's JSON form (what `GET …/config` returns), complete: defaults
 * filled in, inputs and outputs taken from the model where the file did not list them.
 */
export interface ModelConfig {
  name: string;
  platform: 'onnxruntime_onnx';
  backend: 'onnxruntime';
  max_batch_size: number;
  input: TensorConfig[];
  output: TensorConfig[];
  instance_group: InstanceGroup[];
  dynamic_batching?: DynamicBatching;
  version_policy: VersionPolicy;
  default_model_filename: string;
  parameters: Record<string, { string_value: string }>;
}

/** A configuration as read from a file: inputs and outputs may be missing (auto-completed later). */
export type PartialModelConfig = Omit<ModelConfig, 'input' | 'output'> & {
  input: TensorConfig[] | undefined;
  output: TensorConfig[] | undefined;
};

// Protobuf's JSON mapping writes 64-bit integers as strings: accept both.
const integer = (min = 0) =>
  z.preprocess(
    (value) => (typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value),
    z.number().int().min(min),
  );

const dataType = z.string().refine((value) => datatypeOfTriton(value) !== undefined, {
  message: `expected one of ${Object.values(DATATYPES)
    .map((facts) => facts.triton)
    .join(', ')}`,
});

const tensorSchema = z.looseObject({
  name: z.string().min(1),
  data_type: dataType,
  dims: z.array(integer(-1)),
});

const queuePolicySchema = z.looseObject({
  max_queue_size: integer().default(0),
  timeout_action: z.enum(['REJECT', 'DELAY']).default('REJECT'),
  default_timeout_microseconds: integer().default(0),
  allow_timeout_override: z.boolean().default(false),
});

const configSchema = z.looseObject({
  name: z.string().optional(),
  platform: z.string().optional(),
  backend: z.string().optional(),
  max_batch_size: integer().default(0),
  input: z.array(tensorSchema).optional(),
  output: z.array(tensorSchema).optional(),
  instance_group: z
    .array(
      z.looseObject({
        name: z.string().optional(),
        kind: z.enum(['KIND_AUTO', 'KIND_CPU', 'KIND_GPU']).default('KIND_AUTO'),
        count: integer(1).default(1),
        gpus: z.array(integer()).default([]),
      }),
    )
    .optional(),
  dynamic_batching: z
    .looseObject({
      preferred_batch_size: z.array(integer(1)).default([]),
      max_queue_delay_microseconds: integer().default(0),
      preserve_ordering: z.boolean().default(false),
      default_queue_policy: queuePolicySchema.optional(),
    })
    .optional(),
  version_policy: z
    .union([
      z.strictObject({ latest: z.looseObject({ num_versions: integer(1).default(1) }) }),
      z.strictObject({ all: z.looseObject({}) }),
      z.strictObject({ specific: z.looseObject({ versions: z.array(integer()).min(1) }) }),
    ])
    .optional(),
  default_model_filename: z
    .string()
    .regex(/^[^/\\]+$/, 'expected a file name without a folder')
    .refine((value) => value !== '.' && value !== '..', 'expected a file name')
    .optional(),
  parameters: z.record(z.string(), z.looseObject({ string_value: z.string() })).optional(),
});

/** Fields that are repeated in Triton's `ModelConfig` proto (pbtxt gives a single value when given once). */
const REPEATED = new Set([
  'input',
  'output',
  'instance_group',
  'dims',
  'gpus',
  'preferred_batch_size',
  'versions',
]);

/** Turns a parsed `config.pbtxt` into Triton's JSON shape: repeated fields as arrays, `parameters` as a map. */
export function pbtxtToJson(message: PbMessage): Record<string, unknown> {
  const convert = (value: PbValue, field: string): unknown => {
    if (field === 'parameters') {
      const entries = Array.isArray(value) ? value : [value];
      const map: Record<string, unknown> = {};
      for (const entry of entries) {
        if (typeof entry !== 'object' || Array.isArray(entry) || typeof entry.key !== 'string') {
          throw invalid(
            'config.pbtxt: parameters: expected entries { key: "…" value: { string_value: "…" } }',
          );
        }
        if (entry.key === '__proto__')
          throw invalid('config.pbtxt: parameters: "__proto__" is not a parameter name');
        map[entry.key] = convert(entry.value ?? {}, 'value');
      }
      return map;
    }
    if (Array.isArray(value)) return value.map((item) => convert(item, ''));
    if (typeof value === 'object') {
      const object: Record<string, unknown> = {};
      for (const [key, inner] of Object.entries(value)) {
        const converted = convert(inner, key);
        object[key] = REPEATED.has(key) && !Array.isArray(converted) ? [converted] : converted;
      }
      return object;
    }
    return value;
  };
  return convert(message, '') as Record<string, unknown>;
}

function describePath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const part of path)
    text += typeof part === 'number' ? `[${part}]` : text ? `.${String(part)}` : String(part);
  return text || '(the configuration)';
}

/**
 * Validates a configuration (Triton's JSON form) of the model in folder `name` and fills in defaults;
 * inputs and outputs stay undefined when absent (auto-completed from the model). `source` names the
 * file in errors.
 */
export function parseModelConfig(json: unknown, name: string, source: string): PartialModelConfig {
  const parsed = configSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .slice(0, 10)
      .map((issue) => `${describePath(issue.path)}: ${issue.message}`);
    throw invalid(`${source}: ${problems.join('; ')}`, { details: { source } });
  }
  const config = parsed.data;
  for (const unsupported of ['sequence_batching', 'ensemble_scheduling'] as const) {
    if (Object.hasOwn(config, unsupported)) {
      throw invalid(
        `${source}: ${unsupported} is not supported by this server (ONNX models with dynamic batching only)`,
      );
    }
  }
  if (config.dynamic_batching?.default_queue_policy?.timeout_action === 'DELAY') {
    throw invalid(
      `${source}: dynamic_batching.default_queue_policy.timeout_action DELAY is not supported; expired requests are rejected (REJECT)`,
    );
  }
  if (config.name !== undefined && config.name !== '' && config.name !== name) {
    throw invalid(`${source}: name: "${config.name}" must equal the model's folder name "${name}"`);
  }
  if (config.platform !== undefined && config.platform !== '' && config.platform !== 'onnxruntime_onnx') {
    throw invalid(
      `${source}: platform: expected "onnxruntime_onnx" (this server runs ONNX models), got "${config.platform}"`,
    );
  }
  if (config.backend !== undefined && config.backend !== '' && config.backend !== 'onnxruntime') {
    throw invalid(
      `${source}: backend: expected "onnxruntime" (this server runs ONNX models), got "${config.backend}"`,
    );
  }
  for (const list of ['input', 'output'] as const) {
    const seen = new Set<string>();
    for (const tensor of config[list] ?? []) {
      if (seen.has(tensor.name)) throw invalid(`${source}: ${list}: "${tensor.name}" is listed twice`);
      seen.add(tensor.name);
    }
  }
  const groups = (config.instance_group ?? [{ kind: 'KIND_AUTO' as const, count: 1, gpus: [] }]).map(
    (group, index) => ({
      name: group.name ?? `${name}_${index}`,
      kind: group.kind,
      count: group.count,
      gpus: group.gpus,
    }),
  );
  if (config.dynamic_batching && config.max_batch_size === 0) {
    throw invalid(`${source}: dynamic_batching needs max_batch_size > 0 (the batch is the first dimension)`);
  }
  const batching = config.dynamic_batching;
  return {
    name,
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    max_batch_size: config.max_batch_size,
    input: config.input?.map(({ name: n, data_type, dims }) => ({ name: n, data_type, dims })),
    output: config.output?.map(({ name: n, data_type, dims }) => ({ name: n, data_type, dims })),
    instance_group: groups,
    ...(batching && {
      dynamic_batching: {
        preferred_batch_size: batching.preferred_batch_size,
        max_queue_delay_microseconds: batching.max_queue_delay_microseconds,
        preserve_ordering: batching.preserve_ordering,
        ...(batching.default_queue_policy && {
          default_queue_policy: {
            max_queue_size: batching.default_queue_policy.max_queue_size,
            timeout_action: batching.default_queue_policy.timeout_action,
            default_timeout_microseconds: batching.default_queue_policy.default_timeout_microseconds,
            allow_timeout_override: batching.default_queue_policy.allow_timeout_override,
          },
        }),
      },
    }),
    version_policy: (config.version_policy as VersionPolicy | undefined) ?? { latest: { num_versions: 1 } },
    default_model_filename: config.default_model_filename ?? 'model.onnx',
    parameters: Object.fromEntries(
      Object.entries(config.parameters ?? {}).map(([key, value]) => [
        key,
        { string_value: value.string_value },
      ]),
    ),
  };
}

/** What onnxruntime says about one input or output of a loaded model. */
export interface OrtTensorMetadata {
  name: string;
  isTensor: boolean;
  type: string;
  /** Symbolic dimensions are names (`"batch"`), fixed ones numbers; -1 may appear too. */
  shape: (number | string)[];
}

const isDynamic = (dim: number | string | undefined): boolean => typeof dim === 'string' || dim === -1;

function tensorFromModel(meta: OrtTensorMetadata, batched: boolean, source: string): TensorConfig {
  const datatype = meta.isTensor ? datatypeOfOrt(meta.type) : undefined;
  if (!datatype) {
    throw new Error(
      `${source}: "${meta.name}" has type ${meta.isTensor ? meta.type : 'non-tensor'}, which the V2 protocol cannot carry`,
    );
  }
  const dims = meta.shape.map((dim) => (typeof dim === 'string' ? -1 : dim));
  return { name: meta.name, data_type: DATATYPES[datatype].triton, dims: batched ? dims.slice(1) : dims };
}

/**
 * Completes a configuration from the loaded model's metadata, as Triton's ONNX Runtime backend does:
 * inputs and outputs the configuration omits are taken from the model; listed ones must agree with it
 * (name, datatype, rank and fixed dimensions). Throws a plain `Error` naming the mismatch.
 */
export function completeModelConfig(
  partial: PartialModelConfig,
  inputs: readonly OrtTensorMetadata[],
  outputs: readonly OrtTensorMetadata[],
  source: string,
): ModelConfig {
  const batched = partial.max_batch_size > 0;
  const check = (list: 'input' | 'output', metas: readonly OrtTensorMetadata[]): TensorConfig[] => {
    if (batched) {
      for (const meta of metas) {
        if (meta.shape.length === 0 || !isDynamic(meta.shape[0])) {
          throw new Error(
            `${source}: max_batch_size is ${partial.max_batch_size} but the model's ${list} "${meta.name}" has no variable first dimension to batch on (shape [${meta.shape.join(', ')}])`,
          );
        }
      }
    }
    const fromModel = metas.map((meta) => tensorFromModel(meta, batched, source));
    const listed = partial[list];
    if (!listed) return fromModel;
    const byName = new Map(fromModel.map((tensor) => [tensor.name, tensor]));
    for (const tensor of listed) {
      const actual = byName.get(tensor.name);
      if (!actual) {
        throw new Error(
          `${source}: ${list} "${tensor.name}" is not in the model (its ${list}s: ${fromModel.map((t) => t.name).join(', ')})`,
        );
      }
      if (actual.data_type !== tensor.data_type) {
        throw new Error(
          `${source}: ${list} "${tensor.name}" is ${tensor.data_type} in the configuration but ${actual.data_type} in the model`,
        );
      }
      const compatible =
        actual.dims.length === tensor.dims.length &&
        actual.dims.every((dim, index) => dim === -1 || tensor.dims[index] === dim);
      if (!compatible) {
        throw new Error(
          `${source}: ${list} "${tensor.name}" has dims [${tensor.dims.join(', ')}] in the configuration but [${actual.dims.join(', ')}] in the model${batched ? ' (without the batch dimension)' : ''}`,
        );
      }
    }
    if (list === 'input') {
      const missing = fromModel.filter((tensor) => !listed.some((t) => t.name === tensor.name));
      if (missing.length > 0) {
        throw new Error(
          `${source}: the model's input "${missing[0]!.name}" is missing from the configuration`,
        );
      }
    }
    return listed;
  };
  return { ...partial, input: check('input', inputs), output: check('output', outputs) };
}

/** The V2 datatype of a configured tensor. */
export function tensorDatatype(tensor: TensorConfig): Datatype {
  return datatypeOfTriton(tensor.data_type)!;
}
