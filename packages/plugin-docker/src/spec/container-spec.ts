import { reservedKeyPaths } from '@beamline/core';
import { z } from 'zod';
import { DockerError } from '../errors/docker-error.js';

const hostPath = z.string().startsWith('/', 'must be an absolute path');
const containerPath = z.string().startsWith('/', 'must be an absolute path inside the container');

/** A bind mount. Sources must exist: the plugin uses `Mounts`, never `Binds`, which would create them. */
export const mountSchema = z.strictObject({
  source: hostPath,
  target: containerPath,
  readOnly: z.boolean().optional(),
});

/**
 * The typed container job spec. Strict: an unknown or misspelled key (`readOnlyRootFS`, `Gpus`) is an
 * error before any API call, because the Engine API silently ignores unknown create keys (pitfall 9).
 */
export const containerSpecSchema = z.strictObject({
  /** Image reference with an explicit tag or digest (`latest` and untagged are refused). */
  image: z.string().min(1),
  /** Command and arguments (exec form, no shell added); omitted = the image's own command. */
  cmd: z.array(z.string()).min(1).optional(),
  entrypoint: z.array(z.string()).optional(),
  env: z.record(z.string().regex(/^[^=\0]+$/, 'invalid variable name'), z.string()).optional(),
  /** Working directory inside the container. */
  workdir: containerPath.optional(),
  /** `uid:gid`, `uid` or a user name; default per profile (the invoking uid:gid). */
  user: z.string().min(1).optional(),
  mounts: z.array(mountSchema).optional(),
  /** `none`, `bridge`, `host` or a network name. */
  network: z.string().min(1).optional(),
  readOnlyRoot: z.boolean().optional(),
  tmpfs: z.record(containerPath, z.string()).optional(),
  /** Explicit GPU device ids from the resource pool (`['0','2']` or UUIDs), or `'all'` for a whole-host job. */
  gpus: z.union([z.array(z.string().regex(/^[A-Za-z0-9-]+$/)).min(1), z.literal('all')]).optional(),
  memoryMb: z.number().int().positive().optional(),
  cpus: z.number().positive().optional(),
  pids: z.number().int().positive().optional(),
  shmMb: z.number().int().positive().optional(),
  /** Extra groups (a shared output group, as PETRIC's runner group). */
  groupAdd: z.array(z.string().min(1)).optional(),
  /** Explicit container name (overrides `<project>-<step>-<id>`). */
  name: z.string().min(1).optional(),
  /** Step part of the generated name and the `step` label. */
  step: z.string().min(1).optional(),
  /** Run id for the `run` label. */
  run: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  timeoutMs: z.number().int().positive().optional(),
  killGraceMs: z.number().int().nonnegative().optional(),
  /** Let the daemon remove the container (`--rm`); OOM is then read from the event stream. */
  autoRemove: z.boolean().optional(),
  /** Profile name (`tre`, `default`, or one the lab registered). */
  profile: z.string().optional(),
  /** Host data folder for the profile's data mount (TRE `/safe_data/<project>`). */
  data: hostPath.optional(),
  /** Host outputs folder for the profile's outputs mount; default `<outputsRoot>/outputs_<id>`. */
  outputs: hostPath.optional(),
});

/** A validated container job spec. */
export type ContainerSpec = z.output<typeof containerSpecSchema>;
/** What callers write (same as `ContainerSpec`; kept separate should defaults be added). */
export type ContainerSpecInput = z.input<typeof containerSpecSchema>;

/** Formats zod issues as `path: message` lines. */
function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const path = i.path.map(String).join('.');
      const keys = i.code === 'unrecognized_keys' ? ` (${i.keys.join(', ')})` : '';
      return `${path === '' ? '(root)' : path}: ${i.message}${keys}`;
    })
    .join('; ');
}

/**
 * `__proto__` keys (env variables, labels, tmpfs targets): zod leaves them out of what it returns, so the
 * variable or label would silently be missing from the container.
 */
function reservedKeyIssues(value: unknown): string[] {
  return reservedKeyPaths(value).map(
    (path) =>
      `${path.map(String).join('.')}: "__proto__" cannot be a key (JavaScript reserves it for an object's prototype)`,
  );
}

/** Parses with a schema, or throws `DOCKER_SPEC_INVALID` naming every problem. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const reserved = reservedKeyIssues(value);
  if (reserved.length > 0) {
    throw new DockerError('DOCKER_SPEC_INVALID', `invalid ${what}: ${reserved.join('; ')}`, {
      details: { issues: reserved },
    });
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new DockerError('DOCKER_SPEC_INVALID', `invalid ${what}: ${formatIssues(result.error)}`, {
      details: { issues: result.error.issues },
    });
  }
  return result.data;
}

/** Validates a container spec (strict). */
export function parseContainerSpec(input: unknown): ContainerSpec {
  return parseOrThrow(containerSpecSchema, input, 'container spec');
}
