import type { Writable } from 'node:stream';

/** The program's surroundings, injected so subcommands can be tested without a real terminal. */
export interface CliIO {
  readonly stdout: Writable & { isTTY?: boolean; columns?: number; rows?: number };
  readonly stderr: Writable & { isTTY?: boolean; columns?: number };
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** Aborted on Ctrl-C (SIGINT) or SIGTERM: a long-running subcommand cancels cleanly and returns. */
  readonly signal: AbortSignal;
}

/** Exit codes of the `beamline` program. */
export const ExitCode = { ok: 0, failed: 1, badInput: 2 } as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
