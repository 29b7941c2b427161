import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeSyntheticEvent } from './events.js';
import { TRACCC_CONFIG, tracccModel } from './traccc-model.js';

/** Writes the model repository (`<dir>/models/traccc-gpu/…`) and `events` synthetic event CSVs. */
export async function prepare(
  dir: string,
  events: number,
  cells: (index: number) => number,
): Promise<{ repository: string; eventFiles: string[] }> {
  const repository = join(dir, 'models');
  await mkdir(join(repository, 'traccc-gpu', '1'), { recursive: true });
  await writeFile(join(repository, 'traccc-gpu', '1', 'model.onnx'), tracccModel());
  await writeFile(join(repository, 'traccc-gpu', 'config.pbtxt'), TRACCC_CONFIG);
  await mkdir(join(dir, 'events'), { recursive: true });
  const eventFiles: string[] = [];
  for (let i = 0; i < events; i += 1) {
    const file = join(dir, 'events', `event${String(i).padStart(9, '0')}-cells.csv`);
    await writeSyntheticEvent(file, cells(i), i + 1);
    eventFiles.push(file);
  }
  return { repository, eventFiles };
}
