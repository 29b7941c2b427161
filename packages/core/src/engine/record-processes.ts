import { tap } from 'rxjs';
import type { StepProcess } from '../contracts/events.js';
import type { ProcessEvent, Runner } from '../contracts/runner.js';
import { hostBootId, hostName, readProcStat } from '../process/process-identity.js';

/**
 * The step's runner as a command sees it (`ctx.runner`): the same runner, except that every `started`
 * event of `exec` is also reported to `record` with what identifies the process after a crash (pid, its
 * group when it leads one, host, boot id, start time; or the container id). Every command that runs work
 * through its runner is covered without doing anything itself.
 */
export function recordProcesses(runner: Runner, record: (process: StepProcess) => void): Runner {
  const exec: Runner['exec'] = (spec, options) =>
    runner.exec(spec, options).pipe(
      tap((event) => {
        if (event.type === 'started') record(describeStarted(runner.name, event));
      }),
    );
  // A proxy rather than a copy: whatever else the runner offers (methods, getters, private fields through
  // its own `this`) reaches the real object.
  return new Proxy(runner, {
    get(target, property) {
      if (property === 'exec') return exec;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** What identifies a started process or container, read right when the runner reports it. */
function describeStarted(runner: string, event: Extract<ProcessEvent, { type: 'started' }>): StepProcess {
  const process: StepProcess = { runner, host: hostName() };
  const bootId = hostBootId();
  if (bootId !== undefined) process.bootId = bootId;
  if (event.containerId !== undefined) process.containerId = event.containerId;
  if (event.jobId !== undefined) process.jobId = event.jobId;
  if (event.node !== undefined) process.node = event.node;
  if (event.gpus !== undefined) process.gpus = [...event.gpus];
  if (event.pid !== undefined) {
    process.pid = event.pid;
    // A process that has already exited leaves no start time: it cannot be told from a reused pid, so
    // it will never be signalled, which is right since there is nothing left to stop.
    const stat = readProcStat(event.pid);
    if (stat !== undefined) {
      process.startTime = stat.startTime;
      if (stat.pgrp === event.pid) process.pgid = event.pid;
    }
  }
  return process;
}
