import type { Command } from '../contracts/command.js';
import type { Runner } from '../contracts/runner.js';
import { execCommand } from '../commands/exec.js';
import { LocalProcessRunner } from '../runners/local-process-runner.js';

/** What every runtime has before plugins register: the `exec` command and the `local` runner. */
export function builtinCommands(): Array<Command<never>> {
  return [execCommand as Command<never>];
}

export function builtinRunners(): Runner[] {
  return [new LocalProcessRunner()];
}
