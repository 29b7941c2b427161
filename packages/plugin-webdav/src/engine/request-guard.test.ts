import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CHILD = fileURLToPath(new URL('../../test/support/guard-child.ts', import.meta.url));

function runChild(env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['--expose-gc', '--conditions=source', '--import', 'tsx', CHILD], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
}

describe('request guard (what a request inside webdav-server throws later)', () => {
  it('reports a throw from the request itself and from its timers, file-system callbacks, ticks and nested callbacks (after the request ended: to its light after-the-end handler) to that request, the process alive', () => {
    const child = runChild();
    expect(child.status, child.stderr).toBe(0);
    const line = /RESULTS (.*)/.exec(child.stdout)?.[1];
    expect(JSON.parse(line ?? '[]')).toEqual([
      'sync:sync',
      'timer:timer',
      'fs:fs',
      'tick:tick',
      'nested:nested',
      'after-end (after the end):after-end',
    ]);
  });

  it('keeps nothing of a request once it ended (a flood of requests into the engine cannot grow the heap)', () => {
    const child = runChild();
    expect(child.status, child.stderr).toBe(0);
    expect(/RETAINED (\d+)/.exec(child.stdout)?.[1]).toBe('0');
  });

  it('leaves the throw of anything else as Node would: printed, exit code 1', () => {
    const child = runChild({ GUARD_FOREIGN: '1' });
    expect(child.stdout).toContain('RESULTS');
    expect(child.stdout).not.toContain('STILL ALIVE');
    expect(child.status).toBe(1);
    expect(child.stderr).toContain('foreign failure');
  });
});
