import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { lastValueFrom } from 'rxjs';
import { LocalProcessRunner } from '../src/runners/local-process-runner.js';

/** Figures of {@link benchLocalRunner}: total milliseconds for the processes each way, and their ratio. */
export interface LocalRunnerBenchResult {
  runnerMs: number;
  spawnMs: number;
  /** runnerMs / spawnMs; the target is at most 1.2. */
  ratio: number;
}

/**
 * Runs `count` short processes (`true`) one after another through {@link LocalProcessRunner} and through
 * plain `child_process.spawn` (waiting for 'close'). The two ways alternate process by process in an
 * ABBA order after a warm-up, so drift in machine load hits both alike.
 */
export async function benchLocalRunner(count = 200): Promise<LocalRunnerBenchResult> {
  const runner = new LocalProcessRunner();
  const viaRunner = async (): Promise<void> => {
    await lastValueFrom(runner.exec({ argv: ['true'] }));
  };
  const viaSpawn = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const child = spawn('true', []);
      child.once('error', reject);
      child.once('close', () => resolve());
    });
  const timed = async (fn: () => Promise<void>): Promise<number> => {
    const start = performance.now();
    await fn();
    return performance.now() - start;
  };

  for (let i = 0; i < 20; i++) {
    await viaRunner();
    await viaSpawn();
  }
  let runnerMs = 0;
  let spawnMs = 0;
  for (let i = 0; i < count; i++) {
    if (i % 4 === 0 || i % 4 === 3) {
      runnerMs += await timed(viaRunner);
      spawnMs += await timed(viaSpawn);
    } else {
      spawnMs += await timed(viaSpawn);
      runnerMs += await timed(viaRunner);
    }
  }
  return { runnerMs, spawnMs, ratio: runnerMs / spawnMs };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { runnerMs, spawnMs, ratio } = await benchLocalRunner();
  console.log(
    `200 × true: LocalProcessRunner ${runnerMs.toFixed(0)} ms, child_process.spawn ${spawnMs.toFixed(0)} ms, ratio ${ratio.toFixed(3)} (target ≤ 1.2)`,
  );
}
