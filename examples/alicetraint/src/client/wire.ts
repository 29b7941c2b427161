import { aliceAodFileSchema } from '@beamline/plugin-grid';
import { z } from 'zod';

/** Task status numbers of the web interface (`Uploaded` is the web interface's alone). */
export const TaskStatus = {
  Failed: 0,
  Queued: 1,
  Training: 2,
  Benchmarking: 3,
  Completed: 4,
  Uploaded: 5,
} as const;
/** A task status number. */
export type TaskStatus = (typeof TaskStatus)[keyof typeof TaskStatus];

/** The statuses a training machine posts: the original module only ever sends these three. */
export type MachineStatus =
  typeof TaskStatus.Failed | typeof TaskStatus.Benchmarking | typeof TaskStatus.Completed;

/** Result types (`file-type`). */
export const ResultType = { Log: 0, Image: 1, Onnx: 2 } as const;
/** A result type number. */
export type ResultType = (typeof ResultType)[keyof typeof ResultType];

/** The six model names the web interface needs to push a task's models to CCDB. */
export const CCDB_MODEL_NAMES = [
  'kaon.onnx',
  'antikaon.onnx',
  'proton.onnx',
  'antiproton.onnx',
  'pion.onnx',
  'antipion.onnx',
] as const;

/**
 * A queued task as the poll answers it (`{ID, AODFiles, Configuration}`, PascalCase). Go marshals an
 * empty slice as `null`, so `AODFiles: null` reads as no files; other fields are ignored.
 */
export const queuedTaskSchema = z.object({
  ID: z.number().int().nonnegative().refine(Number.isSafeInteger, { message: 'ID is larger than 2^53' }),
  AODFiles: z
    .array(aliceAodFileSchema)
    .nullable()
    .transform((files) => files ?? []),
  Configuration: z.unknown(),
});
/** A queued task. */
export type QueuedTask = z.output<typeof queuedTaskSchema>;
