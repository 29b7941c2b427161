import { XMLParser } from 'fast-xml-parser';
import { GridError } from '../errors/grid-error.js';
import { toGridFile, type GridFile, type GridFileInput } from '../model/grid-file.js';

/** Metalink 4 `<file>` as fast-xml-parser returns it with attributes kept. */
interface MetalinkFileNode {
  '@_name'?: string;
  size?: number | string;
  hash?: Array<{ '#text'?: string | number; '@_type'?: string } | string>;
  url?: Array<{ '#text'?: string; '@_priority'?: string | number; '@_location'?: string } | string>;
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  removeNSPrefix: true,
  parseTagValue: false,
  trimValues: true,
  isArray: (name) => name === 'file' || name === 'url' || name === 'hash',
});

/**
 * Parses a Metalink 4 document (RFC 5854, as written by alien.py, Rucio and davix) into files: one per
 * `<file>`, replicas ordered by `priority`, `<hash type="adler32|md5|sha-256">` as checksums. Piece
 * hashes and signatures are ignored; the whole-file checksum is what is verified.
 */
export function parseMetalink(xml: string): GridFile[] {
  let doc: unknown;
  try {
    doc = parser.parse(xml);
  } catch (e) {
    throw new GridError('GRID_INPUT_INVALID', `Metalink: not well-formed XML (${(e as Error).message})`, {
      cause: e,
    });
  }
  const root = (doc as { metalink?: { file?: MetalinkFileNode[] } }).metalink;
  if (root === undefined) throw new GridError('GRID_INPUT_INVALID', 'Metalink: no <metalink> root element');
  const files = root.file ?? [];
  return files.map((f, i) => {
    const name = f['@_name'];
    if (!name) throw new GridError('GRID_INPUT_INVALID', `Metalink: <file> ${i + 1} has no name attribute`);
    const checksums: Record<string, string> = {};
    for (const h of f.hash ?? []) {
      if (typeof h === 'string' || h['@_type'] === undefined || h['#text'] === undefined) continue;
      checksums[h['@_type']] = String(h['#text']);
    }
    const urls = (f.url ?? []).flatMap((u) => {
      if (typeof u === 'string') return [{ url: u }];
      if (!u['#text']) return [];
      const priority = u['@_priority'] === undefined ? undefined : Number(u['@_priority']);
      return [{ url: u['#text'], ...(priority !== undefined && Number.isFinite(priority) && { priority }) }];
    });
    const size = f.size === undefined ? undefined : Number(f.size);
    if (size !== undefined && !(Number.isSafeInteger(size) && size >= 0)) {
      throw new GridError(
        'GRID_INPUT_INVALID',
        `Metalink: <file name="${name}"> has an invalid size "${String(f.size)}"`,
      );
    }
    const input: GridFileInput = { name, urls, checksums, dest: name, ...(size !== undefined && { size }) };
    return toGridFile(input, i);
  });
}
