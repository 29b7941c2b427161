import { STEP_LABELS } from '@beamline/core';
import type { ProcessSpec } from '@beamline/core';
import { z } from 'zod';
import { DockerError } from '../errors/docker-error.js';
import { mountSchema, parseOrThrow, type ContainerSpec } from './container-spec.js';

/** The core's ProcessSpec, strictly: a field this runner does not know is refused, not ignored. */
const processSpecSchema = z.strictObject({
  argv: z.array(z.string()).min(1, 'argv must name a program'),
  env: z.record(z.string(), z.string()).optional(),
  cwd: z.string().optional(),
  image: z.string().optional(),
  mounts: z.array(mountSchema).optional(),
  resources: z
    .strictObject({
      cpus: z.number().nonnegative(),
      memoryMb: z.number().nonnegative(),
      gpus: z.array(z.string()),
    })
    .optional(),
  // Scheduler hints for runners that place work elsewhere: a container gets the granted `resources`
  // above, and the engine enforces the time limit itself, so both are accepted and not used here.
  request: z
    .strictObject({
      cpus: z.number().nonnegative().optional(),
      memoryMb: z.number().nonnegative().optional(),
      gpus: z.number().int().nonnegative().optional(),
      gpuOptional: z.boolean().optional(),
      labels: z.array(z.string()).optional(),
    })
    .optional(),
  timeLimitMs: z.number().positive().optional(),
  network: z.string().optional(),
  user: z.string().optional(),
  timeoutMs: z.number().int().positive().optional(),
  killGraceMs: z.number().int().nonnegative().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  name: z.string().optional(),
  // What the work reads and makes, for runners that move it to a host without the run's folder; a
  // container here mounts that folder, so the description is accepted and not used.
  files: z.looseObject({ root: z.string() }).optional(),
});

/** Label keys the core may use for the run id (the `run` ownership label is taken from the first match). */

/**
 * Maps the core's ProcessSpec onto a container spec: argv → Cmd (no shell added), cwd → WorkingDir,
 * resources → NanoCpus/Memory/DeviceIDs (the granted GPU ids, never a count), name → step part.
 * A missing image is `DOCKER_SPEC_INVALID` (the runner needs one, either here or as its default).
 */
export function fromProcessSpec(input: ProcessSpec, defaultImage?: string): ContainerSpec {
  const spec = parseOrThrow(processSpecSchema, input, 'process spec');
  const image = spec.image ?? defaultImage;
  if (image === undefined) {
    throw new DockerError(
      'DOCKER_SPEC_INVALID',
      'the docker runner needs an image (ProcessSpec.image or the runner default)',
    );
  }
  const res = spec.resources;
  const run = spec.labels?.[STEP_LABELS.run];
  const out: ContainerSpec = { image, cmd: spec.argv };
  if (spec.env !== undefined) out.env = spec.env;
  if (spec.cwd !== undefined) out.workdir = spec.cwd;
  if (spec.mounts !== undefined) out.mounts = spec.mounts;
  if (spec.network !== undefined) out.network = spec.network;
  if (spec.user !== undefined) out.user = spec.user;
  if (spec.timeoutMs !== undefined) out.timeoutMs = spec.timeoutMs;
  if (spec.killGraceMs !== undefined) out.killGraceMs = spec.killGraceMs;
  if (spec.labels !== undefined) out.labels = spec.labels;
  if (spec.name !== undefined) out.step = spec.name;
  if (run !== undefined) out.run = run;
  if (res !== undefined) {
    if (res.cpus > 0) out.cpus = res.cpus;
    if (res.memoryMb > 0) out.memoryMb = Math.ceil(res.memoryMb);
    if (res.gpus.length > 0) out.gpus = res.gpus;
  }
  return out;
}
