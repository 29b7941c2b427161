import { runTool, type ToolResult } from '../../support/peers/tools.js';

/** An rclone remote for a WebDAV URL, on the command line only (no config file is read or written). */
export interface RcloneRemote {
  /** Flags that define the on-the-fly remote `:webdav:`. */
  flags: string[];
}

/** Builds the `:webdav:` remote flags for `url` with a login (the password obscured as rclone wants). */
export async function rcloneRemote(url: string, user: string, password: string): Promise<RcloneRemote> {
  const obscured = await runTool('rclone', ['obscure', password]);
  if (obscured.code !== 0) throw new Error(`rclone obscure failed: ${obscured.stderr}`);
  return {
    flags: [
      '--config',
      '',
      '--webdav-url',
      url,
      '--webdav-vendor',
      'other',
      '--webdav-user',
      user,
      '--webdav-pass',
      obscured.stdout.trim(),
    ],
  };
}

/** Runs `rclone <args> <remote flags>` with a quiet, non-interactive setup. */
export function rclone(remote: RcloneRemote, args: string[], timeoutMs = 600_000): Promise<ToolResult> {
  return runTool('rclone', [...args, ...remote.flags, '--low-level-retries', '1', '--retries', '1'], {
    env: { ...process.env, RCLONE_CONFIG: '/dev/null' },
    timeoutMs,
  });
}

/** A one-paragraph description of a failed rclone run for an assertion message. */
export function rcloneFailure(r: ToolResult): string {
  return `rclone exited ${r.code}${r.timedOut ? ' (timed out)' : ''}:\n${(r.stdout + r.stderr).slice(-3000)}`;
}
