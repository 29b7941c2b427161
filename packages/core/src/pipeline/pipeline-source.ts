import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import type { PipelineDefinition } from '../contracts/pipeline.js';
import type { PathSegment, SourceLocator, SourcePosition } from './pipeline-issue.js';

/** Where a loaded definition came from, so that the planner can point its issues at lines too. */
export interface PipelineSource {
  file: string;
  locate?: SourceLocator;
}

// Keyed by the definition object: the contract type stays a plain object, and a copy simply loses positions.
const sources = new WeakMap<PipelineDefinition, PipelineSource>();

/** Remembers the file (and positions) of a definition the loader produced. */
export function rememberPipelineSource(definition: PipelineDefinition, source: PipelineSource): void {
  sources.set(definition, source);
}

/** The file a definition was loaded from, when it came from `parsePipeline`/`loadPipelineFile`. */
export function pipelineSourceOf(definition: PipelineDefinition): PipelineSource | undefined {
  return sources.get(definition);
}

/** A locator over a parsed YAML (or JSON) document. */
export function yamlLocator(document: Document, lineCounter: LineCounter): SourceLocator {
  const positionOf = (node: Node | null | undefined): SourcePosition | undefined => {
    const offset = node?.range?.[0];
    if (offset === undefined) return undefined;
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  return (path: readonly PathSegment[], target: 'key' | 'value') => {
    let node: unknown = document.contents;
    let key: Node | undefined;
    for (const segment of path) {
      let next: unknown;
      if (isMap(node)) {
        const pair = node.items.find(
          (item) => String(isScalar(item.key) ? item.key.value : item.key) === String(segment),
        );
        // A missing key is reported where its object is named.
        if (!pair) return positionOf(key) ?? positionOf(node);
        key = isScalar(pair.key) ? pair.key : undefined;
        next = pair.value;
      } else if (isSeq(node) && typeof segment === 'number' && node.items[segment] !== undefined) {
        key = undefined;
        next = node.items[segment];
      } else {
        return positionOf(key) ?? positionOf(node as Node | null);
      }
      node = next;
    }
    // Scalars are pointed at directly; a block collection (or an empty `with:`) is best found by its key.
    const value = node as Node | null;
    if (target === 'value' && (isScalar(value) || key === undefined))
      return positionOf(value) ?? positionOf(key);
    return positionOf(key) ?? positionOf(value);
  };
}
