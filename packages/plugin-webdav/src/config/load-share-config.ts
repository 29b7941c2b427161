import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isMap, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { WebdavError } from '../errors/webdav-error.js';
import { resolveShareConfig, type ConfigLocator, type ConfigPath } from './resolve-share-config.js';
import type { ShareConfig } from './share-config.js';

/**
 * Reads and validates a shares configuration file: YAML (`.yaml`, `.yml`), JSON, or a module whose
 * default export is the configuration object (`.js`, `.mjs`; `.ts` where the process can import
 * TypeScript). Relative folders in it are resolved against the file's folder. Errors name the file,
 * line and column.
 *
 * @throws WebdavError `WEBDAV_CONFIG_UNREADABLE` or `WEBDAV_CONFIG_INVALID`
 */
export async function loadShareConfig(file: string): Promise<ShareConfig> {
  const path = resolve(file);
  const name = basename(path);
  const extension = extname(path).toLowerCase();
  if (['.js', '.mjs', '.cjs', '.ts', '.mts'].includes(extension)) {
    let module: { default?: unknown };
    try {
      module = (await import(pathToFileURL(path).href)) as { default?: unknown };
    } catch (error) {
      throw new WebdavError('WEBDAV_CONFIG_UNREADABLE', `cannot load ${path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (module.default === undefined)
      throw new WebdavError(
        'WEBDAV_CONFIG_INVALID',
        `${path} has no default export (export default defineShares({...}))`,
      );
    return resolveShareConfig(module.default, { baseDir: dirname(path), source: name });
  }
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new WebdavError('WEBDAV_CONFIG_UNREADABLE', `cannot read ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return parseShareConfig(text, { baseDir: dirname(path), source: name });
}

/** Parses YAML (or JSON) configuration text; see {@link loadShareConfig}. */
export function parseShareConfig(
  text: string,
  options: { baseDir?: string; source?: string } = {},
): ShareConfig {
  const source = options.source ?? 'shares configuration';
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (document.errors.length > 0) {
    const first = document.errors[0];
    const pos = first?.linePos?.[0];
    throw new WebdavError(
      'WEBDAV_CONFIG_INVALID',
      `${source}${pos ? `:${pos.line}:${pos.col}` : ''}: not valid YAML: ${first?.message.split('\n')[0] ?? 'parse error'}`,
    );
  }
  const value: unknown = document.toJS({ maxAliasCount: 100 });
  return resolveShareConfig(value, {
    ...(options.baseDir !== undefined && { baseDir: options.baseDir }),
    source,
    locate: yamlLocator(document, lineCounter, source),
  });
}

function yamlLocator(document: Document, lineCounter: LineCounter, source: string): ConfigLocator {
  return (path: ConfigPath) => {
    // The deepest node that exists on the path: a missing key is reported where its parent is.
    for (let length = path.length; length >= 0; length -= 1) {
      const node = length === 0 ? document.contents : document.getIn(path.slice(0, length), true);
      const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
      if (range && (length === 0 || node !== undefined)) {
        const { line, col } = lineCounter.linePos(range[0]);
        return `${source}:${line}:${col}`;
      }
      if (isMap(node) || isSeq(node)) break;
    }
    return source;
  };
}
