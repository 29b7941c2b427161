import { createBody, type ContainerCreateBody } from '../spec/create-body.js';
import type { ResolvedJob } from '../spec/resolve-spec.js';

/** What would run: the equivalent `docker run` command line and the exact Engine API body. */
export interface DryRunResult {
  /** The container name. */
  name: string;
  /** `docker run …` as argv. */
  argv: string[];
  /** `argv`, shell-quoted, ready to paste. */
  command: string;
  /** The `POST /containers/create` body the runner would send. */
  body: ContainerCreateBody;
  /** Host folders the launcher would create (outputs, scratch) or require (data). */
  workspace: ResolvedJob['workspace'];
}

/** Quotes a word for a POSIX shell only when it needs it. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The `docker run` equivalent of a resolved job, like `ces-run --dry-run`: it shows the effective
 * command, mounts, user and limits, which is how a mistaken exec-form CMD or a wrong relative path
 * becomes obvious before a blocking run. Derived from the same create body the runner sends.
 */
export function dryRunJob(job: ResolvedJob): DryRunResult {
  const body = createBody(job);
  const h = body.HostConfig;
  const argv = ['docker', 'run', '--rm', '--name', job.name];
  for (const key of Object.keys(body.Labels).sort()) argv.push('--label', `${key}=${body.Labels[key] ?? ''}`);
  if (h.Init) argv.push('--init');
  if (h.NetworkMode !== undefined) argv.push('--network', h.NetworkMode);
  if (h.ReadonlyRootfs) argv.push('--read-only');
  for (const [target, opts] of Object.entries(h.Tmpfs ?? {}))
    argv.push('--tmpfs', opts ? `${target}:${opts}` : target);
  for (const m of h.Mounts) {
    argv.push('--mount', `type=bind,source=${m.Source},target=${m.Target}${m.ReadOnly ? ',readonly' : ''}`);
  }
  if (body.User !== undefined) argv.push('--user', body.User);
  for (const g of h.GroupAdd ?? []) argv.push('--group-add', g);
  if (body.WorkingDir !== undefined) argv.push('--workdir', body.WorkingDir);
  for (const e of body.Env) argv.push('--env', e);
  if (h.Memory !== undefined)
    argv.push(
      '--memory',
      `${h.Memory / 1048576}m`,
      '--memory-swap',
      `${(h.MemorySwap ?? h.Memory) / 1048576}m`,
    );
  if (h.NanoCpus !== undefined) argv.push('--cpus', String(h.NanoCpus / 1e9));
  argv.push('--pids-limit', String(h.PidsLimit));
  if (h.ShmSize !== undefined) argv.push('--shm-size', `${h.ShmSize / 1048576}m`);
  for (const c of h.CapDrop ?? []) argv.push('--cap-drop', c);
  for (const o of h.SecurityOpt ?? []) argv.push('--security-opt', o);
  for (const r of h.DeviceRequests ?? []) {
    // Several ids need the CSV quoting the CLI expects: --gpus '"device=0,1"'.
    const ids = r.DeviceIDs ?? [];
    argv.push(
      '--gpus',
      ids.length === 0 ? 'all' : ids.length === 1 ? `device=${ids[0]}` : `"device=${ids.join(',')}"`,
    );
  }
  // The CLI's --entrypoint takes one word; the rest of an exec-form entrypoint goes before the command.
  const [entry, ...entryRest] = body.Entrypoint ?? [];
  if (entry !== undefined) argv.push('--entrypoint', entry);
  argv.push(body.Image, ...entryRest, ...(body.Cmd ?? []));
  return { name: job.name, argv, command: argv.map(shellQuote).join(' '), body, workspace: job.workspace };
}
