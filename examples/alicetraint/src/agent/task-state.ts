import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { queuedTaskSchema, type QueuedTask } from '../client/wire.js';
import { AliceError } from '../errors/alice-error.js';

/** What the agent records about the task it holds, so that a restart picks it up again. */
export interface TaskState {
  readonly task: QueuedTask;
  /** The Beamline run of the task, once it was created. */
  readonly runId?: string;
  /** The run ended failed and `Failed` is still to be posted. */
  readonly failed?: boolean;
}

const stateSchema = z.object({
  task: queuedTaskSchema,
  runId: z.string().min(1).optional(),
  failed: z.boolean().optional(),
});

/** `<data>/agent-task.json`: the task this machine holds, written atomically (temporary file, fsync, rename). */
export class TaskStateFile {
  readonly path: string;

  constructor(dataDir: string) {
    this.path = join(dataDir, 'agent-task.json');
  }

  read(): TaskState | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    let parsed: ReturnType<typeof stateSchema.safeParse>;
    try {
      parsed = stateSchema.safeParse(JSON.parse(text));
    } catch {
      parsed = stateSchema.safeParse(undefined);
    }
    if (!parsed.success) {
      throw new AliceError(
        'ALICE_STATE_INVALID',
        `${this.path} is not the agent's task record (it is written atomically, so something else changed it); move it away to start afresh`,
      );
    }
    const { task, runId, failed } = parsed.data;
    return { task, ...(runId !== undefined && { runId }), ...(failed !== undefined && { failed }) };
  }

  write(state: TaskState): void {
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, JSON.stringify(state));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
  }

  clear(): void {
    rmSync(this.path, { force: true });
  }
}
