import type { PluginRegistry } from '../contracts/plugin.js';
import { ExecCommand } from '../commands/exec.js';
import { LocalProcessRunner } from '../runners/local-process-runner.js';

/** What every runtime has before plugins register: the `exec` command and the `local` runner. */
export function registerBuiltins(registry: PluginRegistry): void {
  registry.addCommand(ExecCommand);
  registry.addRunner(LocalProcessRunner);
}
