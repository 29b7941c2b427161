import type { StepDefinition } from '../contracts/pipeline.js';
import { didYouMean, listNames } from './did-you-mean.js';
import type { PipelineIssue } from './pipeline-issue.js';

/** What each step waits for, by step id, in file order. */
export type NeedsGraph = ReadonlyMap<string, readonly string[]>;

// Steps without needs share one frozen list: a 100,000-step fan-out should not hold 100,000 empty arrays.
const NO_NEEDS: readonly string[] = Object.freeze([]);

/**
 * Normalises `needs` of every step: a string or a list; omitted means the previous step in file order;
 * `[]` means none. Unknown and self needs are reported and left out of the graph.
 */
export function buildNeedsGraph(steps: Record<string, StepDefinition>): {
  graph: NeedsGraph;
  issues: PipelineIssue[];
} {
  const graph = new Map<string, readonly string[]>();
  const issues: PipelineIssue[] = [];
  let previous: string | undefined;
  let inOrder = true;
  for (const id of Object.keys(steps)) {
    const needs = stepNeeds(steps, id, previous, issues);
    // The graph holds exactly the steps before this one: no set of ids is needed to tell file order.
    inOrder &&= needs.every((need) => graph.has(need));
    graph.set(id, needs);
    previous = id;
  }
  fileOrdered.set(graph, inOrder);
  return { graph, issues };
}

function stepNeeds(
  steps: Record<string, StepDefinition>,
  id: string,
  previous: string | undefined,
  issues: PipelineIssue[],
): readonly string[] {
  const needs = steps[id]?.needs;
  if (needs === undefined) return previous === undefined ? NO_NEEDS : [previous];
  const list = typeof needs === 'string' ? [needs] : needs;
  if (list.length === 0) return NO_NEEDS;
  const valid: string[] = [];
  list.forEach((need, position) => {
    const path = typeof needs === 'string' ? ['steps', id, 'needs'] : ['steps', id, 'needs', position];
    if (need === id) issues.push({ path, message: `step "${id}" cannot need itself` });
    else if (!Object.hasOwn(steps, need)) {
      const ids = Object.keys(steps);
      issues.push({
        path,
        message: `unknown step "${need}"${didYouMean(need, ids)}; steps: ${listNames(ids)}`,
      });
    } else if (!valid.includes(need)) valid.push(need);
  });
  return valid;
}

/**
 * Whether every step comes after the steps it needs in file order (the common case: needs omitted, or
 * naming earlier steps). Such a graph has no cycle and its file order is already a topological order, so
 * neither needs a search.
 */
function isInFileOrder(graph: NeedsGraph): boolean {
  let inOrder = fileOrdered.get(graph);
  if (inOrder !== undefined) return inOrder;
  inOrder = true;
  const seen = new Set<string>();
  for (const [id, needs] of graph) {
    if (!needs.every((need) => seen.has(need))) {
      inOrder = false;
      break;
    }
    seen.add(id);
  }
  fileOrdered.set(graph, inOrder);
  return inOrder;
}

// Known when the graph is built (buildNeedsGraph), or found once for a graph made elsewhere.
const fileOrdered = new WeakMap<NeedsGraph, boolean>();

/** Every dependency cycle, each as `[a, b, c, a]` where each step needs the next; each cycle once. */
export function findCycles(graph: NeedsGraph): string[][] {
  if (isInFileOrder(graph)) return [];
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
      const needs = graph.get(id) ?? NO_NEEDS;
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
  if (isInFileOrder(graph)) return ids;
  const position = new Map<string, number>();
  ids.forEach((id, index) => position.set(id, index));
  // Counts and dependants by file position: flat typed arrays instead of a map and a list per step.
  const waiting = new Int32Array(ids.length);
  const dependantCount = new Int32Array(ids.length + 1);
  ids.forEach((id, index) => {
    const needs = graph.get(id) ?? NO_NEEDS;
    waiting[index] = needs.length;
    for (const need of needs) {
      const at = position.get(need)! + 1;
      dependantCount[at] = dependantCount[at]! + 1;
    }
  });
  const start = dependantCount;
  for (let i = 1; i <= ids.length; i++) start[i] = start[i]! + start[i - 1]!;
  const dependants = new Int32Array(start[ids.length]!);
  const filled = start.slice(0, ids.length);
  ids.forEach((id, index) => {
    for (const need of graph.get(id) ?? NO_NEEDS) {
      const at = position.get(need)!;
      dependants[filled[at]!] = index;
      filled[at] = filled[at]! + 1;
    }
  });
  const ready = new MinHeap(ids.length);
  for (let i = 0; i < ids.length; i++) if (waiting[i] === 0) ready.push(i);
  const order: string[] = [];
  while (ready.size > 0) {
    const index = ready.pop();
    order.push(ids[index]!);
    for (let d = start[index]!; d < start[index + 1]!; d++) {
      const dependant = dependants[d]!;
      waiting[dependant] = waiting[dependant]! - 1;
      if (waiting[dependant] === 0) ready.push(dependant);
    }
  }
  if (order.length < ids.length) throw new Error('topologicalOrder: the graph has a cycle');
  return order;
}

/** A binary min-heap of file positions: the earliest ready step comes out first. */
class MinHeap {
  private readonly items: Int32Array;
  size = 0;

  constructor(capacity: number) {
    this.items = new Int32Array(capacity);
  }

  push(value: number): void {
    const items = this.items;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent]! <= value) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = value;
  }

  pop(): number {
    const items = this.items;
    const top = items[0]!;
    const last = items[--this.size]!;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= this.size) break;
      const right = left + 1;
      const child = right < this.size && items[right]! < items[left]! ? right : left;
      if (items[child]! >= last) break;
      items[i] = items[child]!;
      i = child;
    }
    items[i] = last;
    return top;
  }
}

/**
 * Whether step `id` waits for step `target`, directly or through others. Searches back from `id` and
 * stops at `target`: a step usually reads the outputs of a step it needs directly, so checking every
 * `${{ steps.… }}` of a 100,000-step chain stays linear (collecting each step's ancestors would not).
 */
export function dependsOn(graph: NeedsGraph, id: string, target: string): boolean {
  const visited = new Set<string>();
  const pending = [...(graph.get(id) ?? NO_NEEDS)];
  for (let need = pending.pop(); need !== undefined; need = pending.pop()) {
    if (need === target) return true;
    if (visited.has(need)) continue;
    visited.add(need);
    for (const further of graph.get(need) ?? NO_NEEDS) pending.push(further);
  }
  return false;
}
