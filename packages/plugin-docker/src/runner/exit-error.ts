import type { ProcessEvent } from '@beamline/core';
import { DockerError } from '../errors/docker-error.js';

type ExitEvent = Extract<ProcessEvent, { type: 'exit' }>;

/**
 * The typed error for an unsuccessful exit, or undefined for exit code 0: `DOCKER_TIMED_OUT`,
 * `DOCKER_CANCELLED`, `DOCKER_OOM_KILLED`, else `DOCKER_EXIT_NONZERO`. For callers that want an error
 * (the CLI, commands) rather than the runner's exit event.
 */
export function exitError(exit: ExitEvent, name = 'container', stderrTail = ''): DockerError | undefined {
  const details = { code: exit.code, signal: exit.signal, oomKilled: exit.oomKilled, stderrTail };
  const how = exit.code !== null ? `exit code ${exit.code}` : `signal ${exit.signal ?? '?'}`;
  if (exit.reason === 'timeout')
    return new DockerError('DOCKER_TIMED_OUT', `${name} timed out and was stopped (${how})`, { details });
  if (exit.reason === 'cancelled')
    return new DockerError('DOCKER_CANCELLED', `${name} was cancelled (${how})`, { details });
  if (exit.oomKilled)
    return new DockerError('DOCKER_OOM_KILLED', `${name} was killed for running out of memory (${how})`, {
      details,
    });
  if (exit.code === 0) return undefined;
  const tail = stderrTail.trim() === '' ? '' : `\n${stderrTail.trimEnd()}`;
  return new DockerError('DOCKER_EXIT_NONZERO', `${name} failed with ${how}${tail}`, { details });
}
