import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lastValueFrom, tap, toArray, type Observable } from 'rxjs';
import { afterAll, describe, expect, it } from 'vitest';
import type { ProcessEvent, ProcessSpec } from '../contracts/runner.js';
import type { RuntimeEventInit } from '../contracts/runtime.js';
import { isCoreError } from '../errors/core-error.js';
import { runnerContractSuite } from '../testing/runner-contract.js';
import { LocalProcessRunner } from './local-process-runner.js';

const scratch = realpathSync(mkdtempSync(join(tmpdir(), 'beamline-local-runner-')));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function pidGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

runnerContractSuite('LocalProcessRunner', {
  create: () => new LocalProcessRunner(),
  cwd: scratch,
  isGone: (started) => Promise.resolve(started.pid !== undefined && pidGone(started.pid)),
});

async function run(spec: ProcessSpec): Promise<{ events: ProcessEvent[]; stdout: string }> {
  const events = await lastValueFrom(new LocalProcessRunner().exec(spec).pipe(toArray()));
  const stdout = events.map((e) => (e.type === 'stdout' ? e.data.toString() : '')).join('');
  return { events, stdout };
}

async function failure(observable: Observable<ProcessEvent>): Promise<unknown> {
  try {
    await lastValueFrom(observable);
  } catch (error) {
    return error;
  }
  throw new Error('expected an error notification');
}

/** Gone, or exited and only waiting to be reaped (a zombie nobody waits for is no process left behind). */
function exitedOrGone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]?.startsWith('Z') ?? pidGone(pid);
  } catch {
    return pidGone(pid);
  }
}

const packageRoot = fileURLToPath(new URL('../..', import.meta.url));
const stopFixture = fileURLToPath(new URL('./test-fixtures/stop-and-exit.ts', import.meta.url));

/**
 * Runs the stop fixture; resolves with the grandchild's pid, the ms from the exit event to the end of the
 * fixture process, and the ms from its start to that end.
 */
function runStopFixture(
  mode: 'orphan' | 'trap',
  killGraceMs?: number,
): Promise<{ grandchild: number; lingerMs: number; totalMs: number; output: string }> {
  return new Promise((resolve, reject) => {
    const args = ['--conditions=source', '--import', 'tsx', stopFixture, mode];
    if (killGraceMs !== undefined) args.push(String(killGraceMs));
    const child = spawn(process.execPath, args, { cwd: packageRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    const started = Date.now();
    let output = '';
    let exitAt: number | undefined;
    let grandchild = 0;
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /^exit (\d+)/m.exec(output);
      if (match !== null && exitAt === undefined) {
        exitAt = Date.now();
        grandchild = Number(match[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', reject);
    child.once('close', (code) => {
      const end = Date.now();
      if (code !== 0 || exitAt === undefined) reject(new Error(`fixture failed (${code}): ${output}`));
      else resolve({ grandchild, lingerMs: end - exitAt, totalMs: end - started, output });
    });
  });
}

async function waitUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return check();
}

describe('LocalProcessRunner specifics', () => {
  const runner = new LocalProcessRunner();

  it('has the name local and a host identity', async () => {
    expect(runner.name).toBe('local');
    expect(await runner.identity({})).toMatch(/^local:[^:]+:[a-z0-9]+-[a-z0-9]+$/);
  });

  it('does nothing before subscription', async () => {
    const marker = join(scratch, 'cold-marker');
    const observable = runner.exec({ argv: ['sh', '-c', `touch ${marker}`] });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(existsSync(marker)).toBe(false);
    await lastValueFrom(observable);
    expect(existsSync(marker)).toBe(true);
  });

  it('sets CUDA_VISIBLE_DEVICES from the grant, overriding the environment', async () => {
    const script = 'printf "[%s]" "${CUDA_VISIBLE_DEVICES-unset}"';
    const granted = await run({
      argv: ['sh', '-c', script],
      env: { CUDA_VISIBLE_DEVICES: '0,1,2,3' },
      resources: { cpus: 1, memoryMb: 0, gpus: ['1', '3'] },
    });
    expect(granted.stdout).toBe('[1,3]');
    const none = await run({ argv: ['sh', '-c', script], resources: { cpus: 1, memoryMb: 0, gpus: [] } });
    expect(none.stdout).toBe('[]');
    const noGrant = await run({ argv: ['sh', '-c', script], env: { CUDA_VISIBLE_DEVICES: '7' } });
    expect(noGrant.stdout).toBe('[7]');
  });

  it('kills the whole process group, grandchildren included', { timeout: 30_000 }, async () => {
    // The grandchild ignores nothing and does not hold the pipes, so only a group kill reaches it.
    const { events, stdout } = await run({
      argv: ['sh', '-c', 'sleep 60 >/dev/null 2>&1 & echo $!; wait'],
      timeoutMs: 500,
      killGraceMs: 2_000,
    });
    const grandchild = Number(stdout.trim());
    expect(grandchild).toBeGreaterThan(0);
    expect(events.at(-1)).toMatchObject({ type: 'exit', reason: 'timeout' });
    expect(await waitUntil(() => pidGone(grandchild), 5_000)).toBe(true);
  });

  it('kills the group, grandchildren included, when unsubscribed', { timeout: 30_000 }, async () => {
    let grandchild = 0;
    await new Promise<void>((resolve, reject) => {
      const subscription = runner
        .exec({
          argv: ['sh', '-c', "trap '' TERM; sleep 60 >/dev/null 2>&1 & echo $!; wait"],
          killGraceMs: 500,
        })
        .subscribe({
          next: (event) => {
            if (event.type !== 'stdout') return;
            grandchild = Number(event.data.toString().trim());
            subscription.unsubscribe();
            resolve();
          },
          error: reject,
        });
    });
    expect(grandchild).toBeGreaterThan(0);
    // Both ignore SIGTERM, so this also proves the SIGKILL timer outlives the subscription.
    expect(await waitUntil(() => pidGone(grandchild), 5_000)).toBe(true);
  });

  it(
    'ends a stop as soon as the group is gone, even with an orphan not reaped yet',
    { timeout: 30_000 },
    async () => {
      // The default grace is 10 s: a SIGKILL timer left armed would keep the fixture alive that long.
      const { grandchild, lingerMs, output } = await runStopFixture('orphan');
      expect(output).toContain('cancelled');
      expect(grandchild).toBeGreaterThan(0);
      expect(lingerMs).toBeLessThan(3_000);
      expect(exitedOrGone(grandchild)).toBe(true);
    },
  );

  it(
    'stays alive until SIGKILL when the group ignores SIGTERM, leaving nothing behind',
    { timeout: 30_000 },
    async () => {
      const { grandchild, totalMs } = await runStopFixture('trap', 1_500);
      expect(grandchild).toBeGreaterThan(0);
      // The SIGKILL at 1.5 s ended the shell, and so the exit event came; the grandchild died with it.
      expect(totalMs).toBeGreaterThanOrEqual(1_500);
      expect(await waitUntil(() => exitedOrGone(grandchild), 2_000)).toBe(true);
    },
  );

  it(
    'warns through the runtime events when a group needs SIGKILL, and only then',
    { timeout: 30_000 },
    async () => {
      const warnings: RuntimeEventInit[] = [];
      const warned = new LocalProcessRunner({ emit: (event) => warnings.push(event) });
      const stopAfterStart = async (script: string): Promise<void> => {
        const controller = new AbortController();
        await lastValueFrom(
          warned
            .exec({ argv: ['sh', '-c', script], killGraceMs: 300 }, { signal: controller.signal })
            .pipe(tap((event) => event.type === 'stdout' && controller.abort())),
        );
      };
      await stopAfterStart('echo up; sleep 30');
      expect(warnings).toEqual([]);
      await stopAfterStart("trap '' TERM; echo up; sleep 30 & wait; sleep 30");
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({
        level: 'warning',
        source: 'runner.local',
        details: { graceMs: 300 },
      });
      expect(warnings[0]?.message).toMatch(/still running 300 ms after SIGTERM; sent SIGKILL/);
    },
  );

  it.each([
    ['image', { image: 'busybox' }],
    ['mounts', { mounts: [{ source: '/tmp', target: '/data' }] }],
    ['network', { network: 'none' }],
    ['user', { user: '1000:1000' }],
  ] as const)('refuses %s before spawning', async (field, extra) => {
    const marker = join(scratch, `refused-${field}`);
    const error = await failure(runner.exec({ argv: ['sh', '-c', `touch ${marker}`], ...extra }));
    expect(isCoreError(error, 'CORE_RUNNER_UNSUPPORTED')).toBe(true);
    expect((error as Error).message).toContain(field);
    expect(existsSync(marker)).toBe(false);
  });

  it('accepts an empty mount list', async () => {
    const { stdout } = await run({ argv: ['sh', '-c', 'echo ok'], mounts: [] });
    expect(stdout).toBe('ok\n');
  });

  it('reports spawn failures as CORE_SPAWN_FAILED naming the program and cwd', async () => {
    const missing = await failure(runner.exec({ argv: ['beamline-no-such-program'], cwd: scratch }));
    expect(isCoreError(missing, 'CORE_SPAWN_FAILED')).toBe(true);
    expect((missing as Error).message).toContain('beamline-no-such-program');
    expect((missing as Error).message).toContain(scratch);
    expect((missing as { retryable: boolean }).retryable).toBe(false);

    const badCwd = join(scratch, 'does-not-exist');
    const cwdError = await failure(runner.exec({ argv: ['sh', '-c', 'true'], cwd: badCwd }));
    expect(isCoreError(cwdError, 'CORE_SPAWN_FAILED')).toBe(true);
    expect((cwdError as Error).message).toContain(badCwd);
    expect((cwdError as Error).message).toContain('working directory');

    const notExecutable = await failure(runner.exec({ argv: [join(scratch)], cwd: scratch }));
    expect(isCoreError(notExecutable, 'CORE_SPAWN_FAILED')).toBe(true);
    expect((notExecutable as Error).message).toContain('EACCES');
  });
});
