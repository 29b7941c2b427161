import { Observable } from 'rxjs';
import { z } from 'zod';
import { defineCommand, type StepEvent } from '../../contracts/command.js';
import type { Plugin } from '../../contracts/plugin.js';
import { CoreError } from '../../errors/core-error.js';

/** Observations the test commands make, for assertions. */
export interface Probe {
  running: number;
  maxRunning: number;
  executions: Record<string, number>;
  grants: Record<string, readonly string[]>;
  aborted: string[];
}

export function createProbe(): Probe {
  return { running: 0, maxRunning: 0, executions: {}, grants: {}, aborted: [] };
}

/**
 * Commands for engine tests: `test.work` waits `ms` (or until aborted when `ms` is -1), fails its first
 * `failTimes` attempts, and echoes `value` as output `value`.
 */
export function testCommandsPlugin(probe: Probe): Plugin {
  const work = defineCommand({
    name: 'test.work',
    version: '1',
    runnerIdentity: () => null,
    params: z.object({
      ms: z.number().default(0),
      value: z.unknown().optional(),
      failTimes: z.number().default(0),
      retryable: z.boolean().default(true),
    }),
    execute: (ctx, params) =>
      new Observable<StepEvent>((subscriber) => {
        probe.running++;
        probe.maxRunning = Math.max(probe.maxRunning, probe.running);
        probe.executions[ctx.stepId] = (probe.executions[ctx.stepId] ?? 0) + 1;
        probe.grants[ctx.stepId] = ctx.resources.gpus;
        let finished = false;
        const end = (): void => {
          if (!finished) {
            finished = true;
            probe.running--;
          }
        };
        const complete = (): void => {
          end();
          if (ctx.attempt <= params.failTimes) {
            subscriber.error(
              new CoreError('CORE_PROCESS_FAILED', `planned failure ${ctx.attempt}`, {
                retryable: params.retryable,
              }),
            );
            return;
          }
          subscriber.next({ type: 'log', stream: 'stdout', text: `hello from ${ctx.stepId}\n` });
          subscriber.next({ type: 'metric', name: 'score', value: ctx.attempt });
          subscriber.next({
            type: 'outputs',
            outputs: { value: params.value ?? null, attempt: ctx.attempt },
          });
          subscriber.complete();
        };
        const timer = params.ms >= 0 ? setTimeout(complete, params.ms) : undefined;
        const onAbort = (): void => {
          probe.aborted.push(ctx.stepId);
          if (timer) clearTimeout(timer);
          end();
          subscriber.error(ctx.signal.reason);
        };
        ctx.signal.addEventListener('abort', onAbort, { once: true });
        return () => {
          if (timer) clearTimeout(timer);
          ctx.signal.removeEventListener('abort', onAbort);
          end();
        };
      }),
  });
  return { name: 'test-commands', register: (registry) => registry.addCommand(work) };
}
