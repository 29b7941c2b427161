import { describe, expect, it } from 'vitest';
import { StepQueue } from './step-queue.js';

/** A step run that ends when the test says so. */
function controlledRuns() {
  const started: number[] = [];
  const finishers = new Map<number, (error?: Error) => void>();
  const run = (position: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      started.push(position);
      finishers.set(position, (error) => (error ? reject(error) : resolve()));
    });
  const finish = async (position: number, error?: Error): Promise<void> => {
    finishers.get(position)?.(error);
    // Let the queue see the end and start what fits.
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { started, run, finish };
}

describe('StepQueue', () => {
  it('starts steps in the order they are pushed, at most maxParallel at a time', async () => {
    const { started, run, finish } = controlledRuns();
    const queue = new StepQueue(5, 2, run);
    for (const position of [3, 1, 4, 0]) queue.push(position);
    expect(started).toEqual([3, 1]);
    const drained = queue.drained();
    await finish(1);
    expect(started).toEqual([3, 1, 4]);
    queue.push(2);
    await finish(3);
    await finish(4);
    expect(started).toEqual([3, 1, 4, 0, 2]);
    let done = false;
    void drained.then(() => (done = true));
    await finish(0);
    expect(done).toBe(false);
    await finish(2);
    expect(done).toBe(true);
  });

  it('resolves at once when nothing was pushed', async () => {
    await expect(new StepQueue(3, 2, () => Promise.resolve()).drained()).resolves.toBeUndefined();
  });

  it('starts nothing more after a step run rejects, and rejects once the running ones ended', async () => {
    const { started, run, finish } = controlledRuns();
    const queue = new StepQueue(4, 2, run);
    for (const position of [0, 1, 2, 3]) queue.push(position);
    let outcome: unknown;
    const drained = queue.drained().catch((error: unknown) => (outcome = error));
    await finish(0, new Error('a bug'));
    expect(started).toEqual([0, 1]);
    expect(outcome).toBeUndefined();
    await finish(1);
    await drained;
    expect(outcome).toEqual(new Error('a bug'));
    expect(started).toEqual([0, 1]);
  });
});
