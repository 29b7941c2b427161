import { Tokens, type EventSink, type Plugin } from '@beamline/core';
import type { SlurmJanitorReport } from '../janitor/janitor.js';
import { SlurmRunner, type SlurmRunnerOptions } from '../runner/slurm-runner.js';
import { SlurmOptionsToken, SlurmRunnersToken, SlurmRunnerToken } from '../tokens.js';

/** Options of `createSlurmPlugin`: the main cluster's runner, more clusters, and start-up behaviour. */
export interface SlurmPluginOptions extends SlurmRunnerOptions {
  /**
   * More clusters, each a runner of its own name (`runner: archer2` in a pipeline). Each takes the same
   * options as the main runner; a name must differ from every other runner's.
   */
  clusters?: readonly (SlurmRunnerOptions & { name: string })[];
  /**
   * Run the janitor of every cluster in the `start` hook (cancels this owner's orphaned jobs); default
   * true. Its report, and its failure when Slurm is unreachable, go to the runtime's events
   * (`runtime.events$`, source `slurm.janitor`); they never abort the start.
   */
  janitorOnStart?: boolean;
}

/**
 * Creates the Slurm plugin: registers `SlurmRunner` (runner `slurm`, also under {@link SlurmRunnerToken})
 * for the main cluster and one runner per entry of `clusters`, and runs their janitors at start-up. A
 * step opts in with `runner: slurm` (or a cluster's name); nothing else in the pipeline changes.
 */
export function createSlurmPlugin(options: SlurmPluginOptions): Plugin {
  let runners: readonly SlurmRunner[] = [];
  return {
    name: 'slurm',
    register(registry) {
      registry.provide(SlurmOptionsToken, options);
      registry.provideClass(SlurmRunnerToken, SlurmRunner);
      registry.addRunner(SlurmRunner);
      const config = registry.resolve(Tokens.Config);
      const events = registry.resolve(Tokens.Events);
      const more = (options.clusters ?? []).map((cluster) => new SlurmRunner(cluster, config, events));
      for (const runner of more) registry.addRunner(runner);
      registry.provide(SlurmRunnersToken, more);
    },
    async start(context) {
      runners = [context.resolve(SlurmRunnerToken), ...context.resolve(SlurmRunnersToken)];
      if (options.janitorOnStart !== false) {
        await Promise.all(runners.map((runner) => runJanitorOnStart(runner, context.events)));
      }
    },
    async stop() {
      await Promise.all(runners.map((runner) => runner.dispose()));
    },
  };
}

/** The start-up clean-up, reported as runtime events: a cluster that is unreachable must not stop the runtime. */
async function runJanitorOnStart(runner: SlurmRunner, events: EventSink): Promise<void> {
  const source = 'slurm.janitor';
  let report: SlurmJanitorReport;
  try {
    report = await runner.janitor();
  } catch (error) {
    events.emit({
      level: 'warning',
      source,
      message: `runner ${runner.name}: could not look for orphaned jobs: ${error instanceof Error ? error.message : String(error)}`,
    });
    return;
  }
  const { cancelled, kept, reported, failed } = report;
  events.emit({
    level: failed.length > 0 || reported.length > 0 ? 'warning' : 'info',
    source,
    message:
      `runner ${runner.name}: cancelled ${cancelled.length} orphaned job(s), kept ${kept.length} of live pipelines` +
      (reported.length > 0 ? `, ${reported.length} submitted from another host` : '') +
      (failed.length > 0 ? `, ${failed.length} could not be cancelled` : ''),
    details: { runner: runner.name, ...report },
  });
}
