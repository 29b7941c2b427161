import { constants } from 'node:os';

const SIGNAL_NAMES = new Map<number, string>(
  Object.entries(constants.signals).map(([name, num]) => [num, name] as [number, string]),
);

/** A container's end as the core's ProcessEvent spells it. */
export interface ExitStatus {
  code: number | null;
  signal: string | null;
}

/**
 * Maps a container exit code to code and signal. The daemon reports a process killed by signal n as
 * exit code 128+n (with `Init`, docker-init forwards the same convention); the core contract reports a
 * signal kill as `code: null` plus the signal name, so 137 becomes `{code: null, signal: 'SIGKILL'}`.
 */
export function exitStatus(exitCode: number): ExitStatus {
  if (exitCode > 128 && exitCode < 128 + 65) {
    const name = SIGNAL_NAMES.get(exitCode - 128);
    if (name !== undefined) return { code: null, signal: name };
  }
  return { code: exitCode, signal: null };
}

/** The shell convention back: the exit code a CLI should return for a status. */
export function shellExitCode(status: ExitStatus): number {
  if (status.code !== null) return status.code;
  const num =
    status.signal === null ? undefined : (constants.signals as Record<string, number>)[status.signal];
  return num === undefined ? 1 : 128 + num;
}
