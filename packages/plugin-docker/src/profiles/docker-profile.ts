import { z } from 'zod';

const mountRule = z.strictObject({
  /** Path inside the container. */
  target: z.string().startsWith('/'),
});

/**
 * A runtime profile: the policy part of a container spec, as plain data, so a lab can define its own
 * (validated with `dockerProfileSchema`). A spec may tighten a profile but never loosen a locked setting.
 */
export const dockerProfileSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/),
  description: z.string().default(''),
  /** Default network (`none`, `bridge`, a network name); undefined leaves the daemon default. */
  network: z.string().optional(),
  /** When true a spec cannot choose another network than the profile's (the TRE has none at all). */
  lockNetwork: z.boolean().default(false),
  readOnlyRoot: z.boolean().default(false),
  /** Writable tmpfs mounts (`/tmp` under a read-only root), target → mount options. */
  tmpfs: z.record(z.string(), z.string()).default({}),
  capDrop: z.array(z.string()).default([]),
  noNewPrivileges: z.boolean().default(true),
  /** Run an init process as PID 1 so SIGTERM reaches the job and stop is fast (pitfall 13). */
  init: z.boolean().default(true),
  /** Default memory limit (MiB) when a spec gives none. */
  memoryMb: z.number().int().positive().optional(),
  /** Default PID limit: a fork bomb must not take the shared host down. */
  pids: z.number().int().positive().default(4096),
  /** Default user: the invoking uid:gid (outputs stay the user's), or the image's own `USER`. */
  user: z.enum(['invoker', 'image']).default('invoker'),
  /** HOME inside the container (a writable place; an unknown uid would otherwise get `HOME=/`). */
  home: z.string().startsWith('/').default('/tmp'),
  /** Host folders the launcher owns (the TRE mount contract): data in, fresh outputs kept, scratch removed. */
  workspace: z
    .strictObject({
      data: mountRule
        .extend({ readOnly: z.boolean().default(true), required: z.boolean().default(true) })
        .optional(),
      outputs: mountRule.optional(),
      scratch: mountRule.optional(),
    })
    .optional(),
});

/** A runtime profile (see `dockerProfileSchema`). */
export type DockerProfile = z.output<typeof dockerProfileSchema>;
/** What a lab writes to define a profile (defaults filled in by `defineDockerProfile`). */
export type DockerProfileInput = z.input<typeof dockerProfileSchema>;

/** Validates a profile definition and fills in its defaults. */
export function defineDockerProfile(input: DockerProfileInput): DockerProfile {
  return dockerProfileSchema.parse(input);
}

/**
 * The TRE Container Execution Service contract (EPCC/EIDF Safe Haven): `/safe_data` read-only and
 * required to exist, a fresh `/safe_outputs` per job kept afterwards, `/scratch` removed after the job,
 * no network, read-only root with a writable `/tmp`, no new privileges, all capabilities dropped, the
 * invoking user's uid:gid with `HOME=/scratch`, 4 GB default memory (as `ces-run`).
 */
export const treProfile: DockerProfile = defineDockerProfile({
  name: 'tre',
  description: 'TRE Container Execution Service contract (ces-run)',
  network: 'none',
  lockNetwork: true,
  readOnlyRoot: true,
  tmpfs: { '/tmp': 'rw,nosuid,nodev,mode=1777' },
  capDrop: ['ALL'],
  noNewPrivileges: true,
  init: true,
  memoryMb: 4096,
  pids: 4096,
  user: 'invoker',
  home: '/scratch',
  workspace: {
    data: { target: '/safe_data', readOnly: true, required: true },
    outputs: { target: '/safe_outputs' },
    scratch: { target: '/scratch' },
  },
});

/**
 * The plain default: a normal `docker run --rm` with the shared-server house rules (invoking user,
 * writable HOME in `/tmp`, init, PID limit, no new privileges); network and root filesystem as usual.
 */
export const defaultProfile: DockerProfile = defineDockerProfile({
  name: 'default',
  description: 'plain container with shared-server house rules',
});

/** The built-in profiles by name. */
export const builtinProfiles: Readonly<Record<string, DockerProfile>> = {
  [defaultProfile.name]: defaultProfile,
  [treProfile.name]: treProfile,
};
