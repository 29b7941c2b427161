import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { GridError } from '../errors/grid-error.js';
import { gridFileInputSchema, toGridFile, type GridFile } from '../model/grid-file.js';
import { fromAliceTraint } from './alice-traint.js';
import { parseMetalink } from './metalink.js';

/**
 * Parses an input document, detecting its kind: Metalink 4 XML, an AliceTraINT task (or `AODFiles`
 * array), a JSON typed file list (an array, or `{files: [...]}`), or plain text with one file per line
 * (replica URLs of the same file separated by whitespace; `#` comments).
 */
export function parseInput(text: string, source = 'input'): GridFile[] {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('<')) return parseMetalink(text);
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new GridError('GRID_INPUT_INVALID', `${source}: invalid JSON (${(e as Error).message})`, {
        cause: e,
      });
    }
    return parseJsonInput(json, source);
  }
  return trimmed
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l, i) => toGridFile({ urls: l.split(/\s+/) }, i));
}

/** A JSON value as a file list, an AliceTraINT task, or `{files}`. */
function parseJsonInput(json: unknown, source = 'input'): GridFile[] {
  const isAlice = (v: unknown) => typeof v === 'object' && v !== null && 'Path' in v && 'Size' in v;
  if (typeof json === 'object' && json !== null && 'AODFiles' in json) return fromAliceTraint(json);
  if (Array.isArray(json) && json.length > 0 && isAlice(json[0])) return fromAliceTraint(json);
  const list = Array.isArray(json) ? json : (json as { files?: unknown } | null)?.files;
  const parsed = z.array(gridFileInputSchema).safeParse(list);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new GridError(
      'GRID_INPUT_INVALID',
      `${source}: not a file list (${issue ? `${issue.path.join('.')}: ${issue.message}` : 'expected an array'})`,
    );
  }
  return parsed.data.map((f, i) => toGridFile(f, i));
}

/** Reads and parses an input file (`.meta4`, `.json`, or a URL list). */
export async function loadInputFile(path: string): Promise<GridFile[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new GridError('GRID_INPUT_INVALID', `cannot read input file ${path}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return parseInput(text, path);
}
