import type { PlannedStep } from '../contracts/pipeline.js';

/** Where a need that names no step of the plan points: it is never met. */
export const UNKNOWN_STEP = -1;

/**
 * The needs of a plan as edges between step positions (indexes into `plan.steps`), in typed arrays. For a
 * 100,000-step plan this is a few MB instead of maps and lists keyed by id strings, and it matters twice:
 * V8 sizes the heap at up to four times what is live at a full collection, and a map that keeps growing
 * while steps run leaves its outgrown tables in the old generation.
 *
 * The edges of step `i` are `needs[needsFrom[i]]` … `needs[needsFrom[i + 1] - 1]` (the positions it waits
 * for, {@link UNKNOWN_STEP} for an id the plan does not have) and `dependants[dependantsFrom[i]]` …
 * `dependants[dependantsFrom[i + 1] - 1]` (the steps that wait for it, in plan order).
 */
export class StepGraph {
  readonly size: number;
  readonly needsFrom: Int32Array;
  readonly needs: Int32Array;
  readonly dependantsFrom: Int32Array;
  readonly dependants: Int32Array;
  readonly #positions = new Map<string, number>();

  constructor(readonly steps: readonly PlannedStep[]) {
    const size = steps.length;
    this.size = size;
    steps.forEach((step, position) => {
      // The first step of an id wins, as the first match of a search through the plan would.
      if (!this.#positions.has(step.id)) this.#positions.set(step.id, position);
    });

    this.needsFrom = new Int32Array(size + 1);
    for (let i = 0; i < size; i++) this.needsFrom[i + 1] = this.needsFrom[i]! + steps[i]!.needs.length;
    this.needs = new Int32Array(this.needsFrom[size]!);
    const dependantCounts = new Int32Array(size);
    for (let i = 0, edge = 0; i < size; i++) {
      for (const need of steps[i]!.needs) {
        const position = this.#positions.get(need) ?? UNKNOWN_STEP;
        this.needs[edge++] = position;
        if (position !== UNKNOWN_STEP) dependantCounts[position]!++;
      }
    }

    this.dependantsFrom = new Int32Array(size + 1);
    for (let i = 0; i < size; i++) this.dependantsFrom[i + 1] = this.dependantsFrom[i]! + dependantCounts[i]!;
    this.dependants = new Int32Array(this.dependantsFrom[size]!);
    // Filled in plan order, so a step's dependants are in plan order too.
    const filled = dependantCounts.fill(0);
    for (let i = 0; i < size; i++) {
      for (let edge = this.needsFrom[i]!; edge < this.needsFrom[i + 1]!; edge++) {
        const need = this.needs[edge]!;
        if (need !== UNKNOWN_STEP) this.dependants[this.dependantsFrom[need]! + filled[need]!++] = i;
      }
    }
  }

  /** The position of a step in the plan; undefined for an id the plan does not have. */
  positionOf(stepId: string): number | undefined {
    return this.#positions.get(stepId);
  }

  /** The planned step at a position. */
  step(position: number): PlannedStep {
    return this.steps[position]!;
  }
}
