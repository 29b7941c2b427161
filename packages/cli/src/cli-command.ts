import type { Writable } from 'node:stream';

/** The program's surroundings, injected so subcommands can be tested without a real terminal. */
export interface CliIO {
  readonly stdout: Writable & { isTTY?: boolean; columns?: number };
  readonly stderr: Writable;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** Aborted on Ctrl-C (SIGINT) or SIGTERM: a long-running subcommand cancels cleanly and returns. */
  readonly signal: AbortSignal;
}

/** Exit codes of the `beamline` program. */
export const ExitCode = { ok: 0, failed: 1, badInput: 2 } as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * A subcommand group (`container`, `grid`) or a single subcommand (`run`). `args` are the words after
 * its name. Bad input prints a message naming the problem and what was expected, and returns 2.
 */
export interface CliCommand {
  readonly name: string;
  /** One line for `beamline --help`. */
  readonly summary: string;
  /** Full usage text for `beamline <name> --help`. */
  readonly usage: string;
  run(args: readonly string[], io: CliIO): Promise<ExitCode>;
}
