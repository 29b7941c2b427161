import { chown, mkdir, readdir, rm, rmdir, stat } from 'node:fs/promises';
import { DockerError } from '../errors/docker-error.js';
import type { ResolvedJob } from '../spec/resolve-spec.js';

/** Host folders a job's launcher created, for clean-up. */
export interface PreparedWorkspace {
  /** Outputs folder created by this job (kept, unless the job never started and it is still empty). */
  createdOutputs?: string;
  /** Scratch folder (always removed). */
  scratch?: string;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks that every mount source exists (never creating one: a missing data folder must not turn into
 * an empty one, pitfall 10), then creates the fresh outputs and scratch folders owned by the job's
 * user, so files written in the container belong to that user on the host. Only for a local daemon.
 */
export async function prepareWorkspace(job: ResolvedJob): Promise<PreparedWorkspace> {
  const ws = job.workspace;
  const generated = new Set([ws.outputs, ws.scratch]);
  for (const m of job.mounts) {
    if (!generated.has(m.source) && !(await exists(m.source))) {
      throw new DockerError(
        'DOCKER_MOUNT_SOURCE_MISSING',
        `mount source ${m.source} (for ${m.target}) does not exist`,
        {
          details: { source: m.source, target: m.target },
        },
      );
    }
  }
  const prepared: PreparedWorkspace = {};
  const make = async (path: string): Promise<boolean> => {
    const existed = await exists(path);
    await mkdir(path, { recursive: true, mode: 0o750 });
    // As root (a launcher service), hand the folder to the job's user; as a user it is already theirs.
    if (ws.owner && process.getuid?.() === 0) await chown(path, ws.owner.uid, ws.owner.gid);
    return !existed;
  };
  if (ws.outputs !== undefined && (await make(ws.outputs))) prepared.createdOutputs = ws.outputs;
  if (ws.scratch !== undefined) {
    await make(ws.scratch);
    prepared.scratch = ws.scratch;
  }
  return prepared;
}

/** Removes the scratch folder, and an outputs folder this job created but never used. */
export async function cleanupWorkspace(prepared: PreparedWorkspace, started: boolean): Promise<void> {
  if (prepared.scratch !== undefined) await rm(prepared.scratch, { recursive: true, force: true });
  if (!started && prepared.createdOutputs !== undefined) {
    try {
      if ((await readdir(prepared.createdOutputs)).length === 0) await rmdir(prepared.createdOutputs);
    } catch {
      // Best effort: an outputs folder left behind is harmless.
    }
  }
}
