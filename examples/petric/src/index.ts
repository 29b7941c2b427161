export { crc32c, maskedCrc32c } from './tensorboard/crc32c.js';
export { EventFileWriter, type EventFileOptions } from './tensorboard/event-file.js';
export { readEventFile, type EventFileScalars, type ScalarPoint } from './tensorboard/event-reader.js';
export type { RecordTail } from './tensorboard/tfrecord.js';
