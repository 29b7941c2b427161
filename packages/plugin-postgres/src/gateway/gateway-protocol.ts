import { z } from 'zod';

/**
 * The gateway's wire protocol: JSON bodies, each bounded and checked with these schemas on the gateway
 * (a body that does not match is answered 400 naming the field) and on the worker (a reply that does not
 * match is an error, not a crash).
 */

/** Most bytes of a JSON request body (output chunks are at most 256 KiB before base64). */
export const MAX_JSON_BODY = 2 * 1024 * 1024;
/** Most chunks in one output request. */
const MAX_CHUNKS = 10_000;
/** Longest a claim may wait for work (ms). */
const MAX_WAIT_MS = 60_000;

const id = z.string().min(1).max(200);
const token = z.string().min(1).max(200);
const text = z.string().max(64 * 1024);

/** What a worker's name may be through a gateway (the gateway prefixes it with the token's name). */
export const WORKER_NAME = /^[\w.:@/-]{1,200}$/;

const workerName = z.string().regex(WORKER_NAME, '1-200 letters, digits and . : @ / - _ only');

export const claimRequest = z.strictObject({
  worker: workerName,
  queues: z.array(z.string().min(1).max(500)).max(1_000),
  room: z.number().int().min(1).max(1_000),
  waitMs: z.number().int().min(0).max(MAX_WAIT_MS),
});

const jobRef = { id, token };

export const heartbeatRequest = z.strictObject(jobRef);

// Loose: what a runner records about its process (core's StepProcess, a container id) may grow; the body's
// size bounds it.
const startedSchema = z.looseObject({
  pid: z.number().int().min(0).optional(),
  containerId: z.string().max(200).optional(),
  host: z.string().max(500),
  worker: z.string().max(500),
  gpus: z.array(z.string().max(200)).max(1_000),
});

export const startedRequest = z.strictObject({ ...jobRef, started: startedSchema });

export const outputRequest = z.strictObject({
  ...jobRef,
  first: z
    .number()
    .int()
    .min(1)
    .max(2 ** 31 - 1),
  chunks: z
    .array(
      z.strictObject({
        stream: z.enum(['stdout', 'stderr']),
        data: z.base64(),
      }),
    )
    .min(1)
    .max(MAX_CHUNKS),
});

const exitSchema = z.object({
  type: z.literal('exit'),
  code: z.number().int().nullable(),
  signal: z.string().max(50).nullable(),
  oomKilled: z.boolean(),
  reason: z.enum(['timeout', 'cancelled']).optional(),
  // The outputs a worker without the run's folder put on the artifact share (checked again by the coordinator).
  files: z
    .array(
      z.strictObject({
        path: z.string().min(1).max(4096),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
        size: z.number().int().min(0),
      }),
    )
    .max(100_000)
    .optional(),
});

export const endRequest = z.strictObject({
  ...jobRef,
  end: z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('exit'), exit: exitSchema }),
    z.strictObject({
      kind: z.literal('fail'),
      failure: z.strictObject({ code: z.string().min(1).max(200), message: text, retryable: z.boolean() }),
    }),
    z.strictObject({ kind: z.literal('hand-back') }),
  ]),
});

// Replies, checked by the worker.

export const queuesReply = z.object({
  queues: z.array(z.object({ name: z.string(), requirement: z.record(z.string(), z.unknown()) })),
});

export const claimReply = z.object({
  jobs: z.array(
    z.object({
      id: z.string(),
      queue: z.string(),
      spec: z.record(z.string(), z.unknown()),
      token: z.string(),
      leaseMs: z.number().int().min(1),
      runId: z.string().nullable(),
      stepId: z.string().nullable(),
      /** How long the gateway waited before it claimed this job (ms): the lease runs from no earlier. */
      waitedMs: z.number().min(0),
    }),
  ),
  /** The gateway answered early: a queue the worker did not name got work. */
  queuesChanged: z.boolean().optional(),
});

export const heartbeatReply = z.object({ held: z.boolean(), cancel: z.string().nullable() });

export const acceptedReply = z.object({ accepted: z.boolean() });

/** `field: problem` for the first problems of a failed parse, for a 400 reply or an error message. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length === 0 ? 'body' : issue.path.join('.')}: ${issue.message}`)
    .join('; ');
}
