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
  const stack: string[] = [];
  const cycles: string[][] = [];
  const seen = new Set<string>();
  const visit = (id: string): void => {
    state.set(id, 'visiting');
    stack.push(id);
    for (const need of graph.get(id) ?? []) {
      if (state.get(need) === 'visiting') {
        const cycle = stack.slice(stack.indexOf(need));
        const key = [...cycle].sort().join('\0');
        if (!seen.has(key)) {
          seen.add(key);
          cycles.push([...cycle, need]);
        }
      } else if (!state.has(need)) {
        visit(need);
      }
    }
    stack.pop();
    state.set(id, 'done');
  };
  for (const id of graph.keys()) if (!state.has(id)) visit(id);
  return cycles;
}

/** A topological order of an acyclic graph; among steps that are ready, the earliest in file order goes first. */
export function topologicalOrder(graph: NeedsGraph): string[] {
  const ids = [...graph.keys()];
  const placed = new Set<string>();
  const order: string[] = [];
  while (order.length < ids.length) {
    const next = ids.find((id) => !placed.has(id) && (graph.get(id) ?? []).every((need) => placed.has(need)));
    if (next === undefined) throw new Error('topologicalOrder: the graph has a cycle');
    placed.add(next);
    order.push(next);
  }
  return order;
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
