import type { Artifact } from '../contracts/artifact.js';
import type { StepOutputs } from '../contracts/command.js';
import type { Plan } from '../contracts/pipeline.js';
import { forEachStepRead } from '../pipeline/resolve-step-params.js';
import { UNKNOWN_STEP, type StepGraph } from './step-graph.js';
import type { AttemptResult } from './step-attempt.js';

const NO_ARTIFACTS: readonly Artifact[] = Object.freeze([]);

/**
 * What completed steps pass on (outputs and artifacts), kept only while a step that reads them has yet to
 * read them: the store has every step's result, and a chain of 100,000 steps would otherwise hold all of
 * them until the run ends. A step reads the results of its needs (their artifacts are part of its cache
 * key) and of every step its `${{ steps.… }}` expressions name, which may be further up than its needs.
 */
export class StepResults {
  readonly #outputs: (StepOutputs | undefined)[];
  /** Only lists with something in them: most steps make no artifacts, and an empty list per step adds up. */
  readonly #artifacts: (Artifact[] | undefined)[];
  /** Per step: how many steps have yet to read its result. */
  readonly #readersLeft: Int32Array;
  readonly #doneReading: Uint8Array;
  /** Per reader, the steps its expressions read that are not among its needs (rare, so a sparse map). */
  readonly #alsoReads = new Map<number, number[]>();

  /** `readsLater(position)`: whether that step has yet to start, i.e. will read what it reads. */
  constructor(
    private readonly graph: StepGraph,
    plan: Plan,
    readsLater: (position: number) => boolean,
  ) {
    const { size, needs, needsFrom } = graph;
    this.#outputs = new Array<StepOutputs | undefined>(size).fill(undefined);
    this.#artifacts = new Array<Artifact[] | undefined>(size).fill(undefined);
    this.#readersLeft = new Int32Array(size);
    this.#doneReading = new Uint8Array(size);
    // Which steps the current reader already counts for (its position + 1): an expression that reads a
    // need, or reads a step twice, adds no reader.
    const counted = new Int32Array(size);
    let reader = 0;
    let also: number[] | undefined;
    // One callback for all readers (a closure per step would be 100,000 allocations).
    const countRead = (stepId: string): void => {
      const read = graph.positionOf(stepId);
      if (read === undefined || counted[read] === reader + 1) return;
      counted[read] = reader + 1;
      this.#readersLeft[read]!++;
      (also ??= []).push(read);
    };
    for (reader = 0; reader < size; reader++) {
      if (!readsLater(reader)) {
        this.#doneReading[reader] = 1;
        continue;
      }
      // Every edge counts (a need listed twice counts twice), as every edge is released in doneReading.
      for (let edge = needsFrom[reader]!; edge < needsFrom[reader + 1]!; edge++) {
        const need = needs[edge]!;
        if (need === UNKNOWN_STEP) continue;
        counted[need] = reader + 1;
        this.#readersLeft[need]!++;
      }
      also = undefined;
      forEachStepRead(graph.step(reader), plan, countRead);
      if (also) this.#alsoReads.set(reader, also);
    }
  }

  /** Records a completed step's result, if any step has yet to read it. */
  keep(position: number, result: AttemptResult): void {
    if (this.#readersLeft[position] === 0) return;
    this.#outputs[position] = result.outputs;
    if (result.artifacts.length > 0) this.#artifacts[position] = result.artifacts;
  }

  /** The outputs of a step, while kept; undefined otherwise. */
  outputsOf(stepId: string): StepOutputs | undefined {
    const position = this.graph.positionOf(stepId);
    return position === undefined ? undefined : this.#outputs[position];
  }

  /** The artifacts of a step, while kept; none otherwise. */
  artifactsOf(stepId: string): readonly Artifact[] {
    const position = this.graph.positionOf(stepId);
    return (position === undefined ? undefined : this.#artifacts[position]) ?? NO_ARTIFACTS;
  }

  /**
   * The step at `reader` has read what it reads (its parameters are resolved), or never will (it ended
   * without starting): results no other step reads are dropped. Only the first call per step counts.
   */
  doneReading(reader: number): void {
    if (this.#doneReading[reader] === 1) return;
    this.#doneReading[reader] = 1;
    const { needs, needsFrom } = this.graph;
    for (let edge = needsFrom[reader]!; edge < needsFrom[reader + 1]!; edge++) {
      const need = needs[edge]!;
      if (need !== UNKNOWN_STEP) this.#release(need);
    }
    for (const read of this.#alsoReads.get(reader) ?? []) this.#release(read);
    this.#alsoReads.delete(reader);
  }

  #release(position: number): void {
    if (--this.#readersLeft[position]! > 0) return;
    this.#outputs[position] = undefined;
    this.#artifacts[position] = undefined;
  }
}
