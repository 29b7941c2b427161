import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { jobScript, parseLaunch, shellQuote, type JobFiles } from './job-script.js';

function files(dir: string): JobFiles {
  return {
    dir,
    stdout: path.join(dir, 'stdout'),
    stderr: path.join(dir, 'stderr'),
    launch: path.join(dir, 'launch'),
  };
}

/** Runs a generated script with sh as slurmd would (the script as a file, Slurm's variables set). */
function runScript(argv: string[], cwd: string, env: Record<string, string> = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'beamline-script-'));
  const script = path.join(dir, 'script.sh');
  writeFileSync(script, jobScript(argv, cwd, files(dir), 'test'), { mode: 0o755 });
  const res = spawnSync(script, [], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SLURMD_NODENAME: 'node07', ...env },
    encoding: 'buffer',
  });
  let launch: string | undefined;
  try {
    launch = readFileSync(path.join(dir, 'launch'), 'utf8');
  } catch {
    launch = undefined;
  }
  return { status: res.status, stdout: res.stdout, stderr: res.stderr.toString(), launch };
}

describe('the batch script', () => {
  it('runs argv exactly, whatever the arguments hold', () => {
    const args = ["it's", '$HOME', '`id`', 'two\nlines', ' spaces ', '', '*', '\\', '"q"', 'é'];
    const out = runScript(['printf', '[%s]', ...args], '/tmp');
    expect(out.status).toBe(0);
    expect(out.stdout.toString()).toBe(args.map((a) => `[${a}]`).join(''));
    expect(parseLaunch(out.launch ?? '')).toEqual({ kind: 'started', node: 'node07', gpus: [] });
  });

  it('reports the GPU ids Slurm granted and runs in the working directory', () => {
    const out = runScript(['sh', '-c', 'pwd'], '/usr', { SLURM_JOB_GPUS: '1,3' });
    expect(out.stdout.toString()).toBe('/usr\n');
    expect(parseLaunch(out.launch ?? '')).toEqual({ kind: 'started', node: 'node07', gpus: ['1', '3'] });
  });

  it('reports a missing program instead of running anything, also one given by path', () => {
    const missing = runScript(['beamline-no-such-program', 'x'], '/tmp');
    expect(missing.status).toBe(127);
    expect(parseLaunch(missing.launch ?? '')).toMatchObject({ kind: 'not-found', node: 'node07' });
    const notExecutable = runScript(['/etc/passwd'], '/tmp');
    expect(parseLaunch(notExecutable.launch ?? '')).toMatchObject({ kind: 'not-found' });
  });

  it('reports a working directory it cannot enter', () => {
    const out = runScript(['true'], '/nonexistent/beamline');
    expect(out.status).toBe(1);
    expect(parseLaunch(out.launch ?? '')).toEqual({ kind: 'chdir', node: 'node07' });
  });

  it('exits with the program, which replaces the script (same pid, its signals)', () => {
    expect(runScript(['sh', '-c', 'exit 42'], '/tmp').status).toBe(42);
  });

  it('quotes words for sh', () => {
    expect(shellQuote("a'b")).toBe("'a'\\''b'");
    expect(parseLaunch('started\nvm')).toBeUndefined();
    expect(parseLaunch('weird\n')).toBeUndefined();
  });
});
