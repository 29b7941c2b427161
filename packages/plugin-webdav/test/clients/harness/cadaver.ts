import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTool } from '../../support/peers/tools.js';

/** One cadaver command and what it printed. */
export interface CadaverStep {
  command: string;
  output: string;
  ok: boolean;
}

/** Quotes an argument for cadaver's command line (double quotes, backslash escapes). */
export function cadaverArg(s: string): string {
  return `"${s.replace(/[\\"]/g, '\\$&')}"`;
}

/**
 * Runs cadaver (neon; tolerant mode `-t`, commands on stdin) against `url` with the login in a private
 * `~/.netrc` (cadaver reads `$HOME/.netrc`), and splits its output per command. A command failed when
 * cadaver said `failed` about it, or a query printed nothing where a value was expected.
 */
export async function runCadaver(
  url: string,
  login: { user: string; password: string },
  commands: readonly string[],
  timeoutMs = 600_000,
): Promise<{ steps: CadaverStep[]; raw: string }> {
  const home = mkdtempSync(join(tmpdir(), 'cadaver-home-'));
  try {
    const host = new URL(url).hostname;
    writeFileSync(
      join(home, '.netrc'),
      `machine ${host}\nlogin ${login.user}\npassword ${login.password}\n`,
      {
        mode: 0o600,
      },
    );
    const r = await runTool('cadaver', ['-t', url], {
      env: { ...process.env, HOME: home, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' },
      input: [...commands, 'quit'].join('\n') + '\n',
      timeoutMs,
      cwd: home,
    });
    const raw = r.stdout + r.stderr;
    return { steps: splitSteps(raw, commands), raw };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** Splits cadaver's transcript at its prompts (`dav:/path/> command`). */
function splitSteps(raw: string, commands: readonly string[]): CadaverStep[] {
  const parts = raw.split(/^dav:[^\n]*?> /m).slice(1);
  return commands.map((command, i) => {
    const output = (parts[i] ?? '').replace(/^[^\n]*\n/, '').trim();
    const echoed = parts[i]?.split('\n')[0] ?? '';
    const failed =
      parts[i] === undefined ||
      /\bfailed\b|Could not|not found|Unknown command/i.test(output) ||
      !echoed.startsWith(command.split(' ')[0]!);
    return { command, output, ok: !failed };
  });
}
