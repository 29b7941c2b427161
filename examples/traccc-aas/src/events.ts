import { readFile, writeFile } from 'node:fs/promises';

/** One event's cells: traccc's cell CSV columns, as the two tensors the service takes. */
export interface TracccEvent {
  /** `[N, 4]` row-major: geometry id, measurement id, channel 0, channel 1. */
  positions: BigInt64Array;
  /** `[N, 2]` row-major: timestamp, value. */
  properties: Float32Array;
  cells: number;
}

const HEADER = 'geometry_id,measurement_id,channel0,channel1,timestamp,value';

/**
 * Reads a cell CSV (`geometry_id,measurement_id,channel0,channel1,timestamp,value`, as traccc-aaS's
 * client does); a bad line is an error naming the file, the line and the column.
 */
export async function readEventCsv(path: string): Promise<TracccEvent> {
  const lines = (await readFile(path, 'utf8')).split(/\r?\n/).filter((line) => line.trim() !== '');
  const header = lines.shift()?.trim();
  if (header !== HEADER) throw new Error(`${path}:1: expected the header "${HEADER}", got "${header ?? ''}"`);
  const positions = new BigInt64Array(lines.length * 4);
  const properties = new Float32Array(lines.length * 2);
  lines.forEach((line, row) => {
    const fields = line.split(',').map((field) => field.trim());
    if (fields.length !== 6) throw new Error(`${path}:${row + 2}: expected 6 columns, got ${fields.length}`);
    for (let column = 0; column < 4; column += 1) {
      if (!/^-?\d+$/.test(fields[column]!))
        throw new Error(
          `${path}:${row + 2}: column ${column + 1} must be an integer, got "${fields[column]}"`,
        );
      positions[row * 4 + column] = BigInt(fields[column]!);
    }
    for (let column = 4; column < 6; column += 1) {
      const value = Number(fields[column]);
      if (fields[column] === '' || !Number.isFinite(value))
        throw new Error(`${path}:${row + 2}: column ${column + 1} must be a number, got "${fields[column]}"`);
      properties[row * 2 + column - 4] = value;
    }
  });
  return { positions, properties, cells: lines.length };
}

/**
 * Writes a synthetic event of `cells` cells (deterministic from `seed`) with detector-style 64-bit
 * geometry ids beyond 2^53, so that exactness on the wire matters.
 */
export async function writeSyntheticEvent(path: string, cells: number, seed: number): Promise<void> {
  let state = seed >>> 0 || 1;
  const next = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state;
  };
  const rows = [HEADER];
  for (let i = 0; i < cells; i += 1) {
    const geometry = 1152921779484753920n + BigInt(next() % 5000) * 4096n + 1n;
    rows.push(
      `${geometry},${i},${next() % 1000},${next() % 1000},${(next() % 100) / 10},${(next() % 1000) / 1000}`,
    );
  }
  await writeFile(path, `${rows.join('\n')}\n`);
}
