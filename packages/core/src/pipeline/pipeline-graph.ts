import type { StepDefinition } from '../contracts/pipeline.js';
import { didYouMean, listNames } from './did-you-mean.js';
import type { PipelineIssue } from './pipeline-issue.js';

/** What each step waits for, by step id, in file order. */
export type NeedsGraph = ReadonlyMap<string, readonly string[]>;

/**
 * Normalises `needs` of every step: a string or a list; omitted means the previous step in file order;
 * `[]` means none. Unknown and self needs are reported and left out of the graph.
 */
export function buildNeedsGraph(steps: Record<string, StepDefinition>): {
  graph: NeedsGraph;
  issues: PipelineIssue[];
} {
  const ids = Object.keys(steps);
  const graph = new Map<string, string[]>();
  const issues: PipelineIssue[] = [];
  ids.forEach((id, index) => {
    const needs = steps[id]?.needs;
    if (needs === undefined) {
      const previous = ids[index - 1];
      graph.set(id, previous === undefined ? [] : [previous]);
      return;
    }
    const list = typeof needs === 'string' ? [needs] : needs;
    const valid: string[] = [];
    list.forEach((need, position) => {
      const path = typeof needs === 'string' ? ['steps', id, 'needs'] : ['steps', id, 'needs', position];
      if (need === id) issues.push({ path, message: `step "${id}" cannot need itself` });
      else if (!Object.hasOwn(steps, need)) {
        issues.push({
          path,
          message: `unknown step "${need}"${didYouMean(need, ids)}; steps: ${listNames(ids)}`,
        });
      } else if (!valid.includes(need)) valid.push(need);
    });
    graph.set(id, valid);
  });
  return { graph, issues };
}

/** Every dependency cycle, each as `[a, b, c, a]` where each step needs the next; each cycle once. */
export function findCycles(graph: NeedsGraph): string[][] {
  const state = new Map<string, 'visiting' | 'done'>();
  const cycles: string[][] = [];
  const seen = new Set<string>();
  // Iterative depth-first search: a 100,000-step chain would overflow the call stack recursively.
  for (const root of graph.keys()) {
    if (state.has(root)) continue;
    const path: string[] = [root];
    const next: number[] = [0];
    state.set(root, 'visiting');
    while (path.length > 0) {
      const id = path[path.length - 1]!;
      const needs = graph.get(id) ?? [];
      const index = next[next.length - 1]!;
      if (index >= needs.length) {
        state.set(id, 'done');
        path.pop();
        next.pop();
        continue;
      }
      next[next.length - 1] = index + 1;
      const need = needs[index]!;
      if (state.get(need) === 'visiting') {
        const cycle = path.slice(path.indexOf(need));
        const key = [...cycle].sort().join('\0');
        if (!seen.has(key)) {
          seen.add(key);
          cycles.push([...cycle, need]);
        }
      } else if (!state.has(need)) {
        state.set(need, 'visiting');
        path.push(need);
        next.push(0);
      }
    }
  }
  return cycles;
}

/** A topological order of an acyclic graph; among steps that are ready, the earliest in file order goes first. */
export function topologicalOrder(graph: NeedsGraph): string[] {
  const ids = [...graph.keys()];
  const position = new Map(ids.map((id, index) => [id, index]));
  const waiting = new Map<string, number>();
  const dependants = new Map<string, string[]>();
  for (const id of ids) {
    const needs = graph.get(id) ?? [];
    waiting.set(id, needs.length);
    for (const need of needs) {
      const list = dependants.get(need);
      if (list) list.push(id);
      else dependants.set(need, [id]);
    }
  }
  const ready = new MinHeap();
  for (const id of ids) if (waiting.get(id) === 0) ready.push(position.get(id)!);
  const order: string[] = [];
  while (ready.size > 0) {
    const id = ids[ready.pop()]!;
    order.push(id);
    for (const dependant of dependants.get(id) ?? []) {
      const left = waiting.get(dependant)! - 1;
      waiting.set(dependant, left);
      if (left === 0) ready.push(position.get(dependant)!);
    }
  }
  if (order.length < ids.length) throw new Error('topologicalOrder: the graph has a cycle');
  return order;
}

/** A binary min-heap of file positions: the earliest ready step comes out first. */
class MinHeap {
  private readonly items: number[] = [];

  get size(): number {
    return this.items.length;
  }

  push(value: number): void {
    const items = this.items;
    items.push(value);
    for (let i = items.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (items[parent]! <= items[i]!) break;
      [items[parent], items[i]] = [items[i]!, items[parent]!];
      i = parent;
    }
  }

  pop(): number {
    const items = this.items;
    const top = items[0]!;
    const last = items.pop()!;
    if (items.length > 0) {
      items[0] = last;
      for (let i = 0; ;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < items.length && items[left]! < items[smallest]!) smallest = left;
        if (right < items.length && items[right]! < items[smallest]!) smallest = right;
        if (smallest === i) break;
        [items[smallest], items[i]] = [items[i]!, items[smallest]!];
        i = smallest;
      }
    }
    return top;
  }
}

/** The steps a step waits for, directly or through others. */
export function transitiveNeeds(graph: NeedsGraph, id: string): Set<string> {
  const found = new Set<string>();
  const pending = [...(graph.get(id) ?? [])];
  for (let need = pending.pop(); need !== undefined; need = pending.pop()) {
    if (found.has(need)) continue;
    found.add(need);
    pending.push(...(graph.get(need) ?? []));
  }
  return found;
}
