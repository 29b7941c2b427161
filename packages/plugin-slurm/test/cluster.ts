import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** slurmrestd of the test cluster (`scripts/setup-test-env.sh`). */
export const SLURM_URL = process.env.BEAMLINE_SLURMRESTD_URL ?? 'http://127.0.0.1:6820';
/** The second Unix user the set-up creates, whose jobs the janitor must leave alone. */
export const OTHER_USER = process.env.BEAMLINE_SLURM_OTHER_USER ?? 'beamline-other';

/** A fresh token for `user` from `scontrol token` (root may issue them for anyone). */
export function slurmToken(user = currentUser(), lifespanSeconds = 3600): string {
  const out = execFileSync('scontrol', ['token', `username=${user}`, `lifespan=${lifespanSeconds}`], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  const match = /SLURM_JWT=(\S+)/.exec(out);
  if (!match?.[1]) throw new Error(`scontrol token printed no token: ${out}`);
  return match[1];
}

function currentUser(): string {
  return execFileSync('id', ['-un'], { encoding: 'utf8' }).trim();
}

/** Whether the test cluster answers: slurmrestd up, a token issued, the node idle or busy (not down). */
export function slurmAvailable(): boolean {
  const probe = spawnSync('sinfo', ['-h', '-N', '-o', '%t'], { encoding: 'utf8', timeout: 20_000 });
  if (probe.status !== 0 || !/^(idle|mix|alloc|comp)/m.test(probe.stdout)) return false;
  try {
    slurmToken();
  } catch {
    return false;
  }
  const rest = spawnSync(
    'curl',
    ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', `${SLURM_URL}/openapi/v3`],
    {
      encoding: 'utf8',
    },
  );
  return rest.status === 0 && rest.stdout !== '000';
}

/** A folder every user can write to (job output of another user's jobs lands there too). */
export function sharedDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `beamline-slurm-${prefix}-`));
  chmodSync(dir, 0o1777);
  return dir;
}

/** `squeue` rows (`%i %T %u %j`) of the jobs whose name starts with `prefix`. */
export function queued(prefix: string): { id: number; state: string; user: string; name: string }[] {
  const out = execFileSync('squeue', ['-h', '-o', '%i|%T|%u|%j'], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [id, state, user, ...name] = l.split('|');
      return { id: Number(id), state: state ?? '', user: user ?? '', name: name.join('|') };
    })
    .filter((j) => j.name.startsWith(prefix));
}

/** `scontrol show job` fields of a job (`JobState`, `ExitCode`, …), or undefined once Slurm forgot it. */
export function showJob(jobId: number | string): Record<string, string> | undefined {
  const res = spawnSync('scontrol', ['show', 'job', '-o', String(jobId)], { encoding: 'utf8' });
  if (res.status !== 0) return undefined;
  const fields: Record<string, string> = {};
  for (const m of res.stdout.matchAll(/(\w+(?::\w+)?)=(\S*)/g)) fields[m[1]!] = m[2]!;
  return fields;
}

/** Processes on this node that belong to a Slurm job (`SLURM_JOB_ID=<id>` in their environment). */
export function jobProcesses(jobId: number | string): number[] {
  const out = spawnSync(
    'sh',
    [
      '-c',
      `for e in /proc/[0-9]*/environ; do tr '\\0' '\\n' <"$e" 2>/dev/null | grep -qx 'SLURM_JOB_ID=${Number(jobId)}' && echo "$e"; done`,
    ],
    { encoding: 'utf8' },
  );
  return out.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => Number(l.split('/')[2]))
    .filter((pid) => pid !== process.pid);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Stops a daemon of the test cluster (by its pid file) and starts it again; resolves once Slurm answers. */
export async function restartDaemon(daemon: 'slurmctld' | 'slurmd'): Promise<void> {
  const pid = Number(readFileSync(`/run/slurm/${daemon}.pid`, 'utf8').trim());
  process.kill(pid, 'SIGTERM');
  await until(() => !alive(pid), 30_000, `${daemon} ${pid} to exit`);
  // From /: a daemon keeps the folder it was started in, and a test checkout may be deleted later.
  execFileSync(`/usr/sbin/${daemon}`, [], { cwd: '/', stdio: 'ignore', timeout: 30_000 });
  await until(
    () => spawnSync('scontrol', ['ping'], { encoding: 'utf8' }).stdout.includes('UP'),
    60_000,
    'slurmctld to answer',
  );
}

/** Kills slurmrestd and starts it again the way the set-up script does (the script notices it is down). */
export async function restartSlurmrestd(): Promise<void> {
  // The pid file holds the leader of slurmrestd's session (runuser, its parent): kill the session.
  const pid = Number(readFileSync('/run/slurm/slurmrestd.pid', 'utf8').trim());
  process.kill(-pid, 'SIGKILL');
  await until(() => !alive(pid), 10_000, `slurmrestd ${pid} to exit`);
  try {
    execFileSync('pkill', ['-9', '-x', '-u', 'slurmrestd', 'slurmrestd'], { stdio: 'ignore' });
  } catch {
    // None left: the session's kill took it.
  }
  // A moment without slurmrestd, as a restart by an administrator would give.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const setup = new URL('../scripts/setup-test-env.sh', import.meta.url).pathname;
  execFileSync('bash', [setup], { stdio: 'ignore', timeout: 120_000 });
}

/** Sets a partition field for the length of a test (`scontrol update`); returns the undo. */
export function updatePartition(name: string, field: string, value: string, restore: string): () => void {
  execFileSync('scontrol', ['update', `partitionname=${name}`, `${field}=${value}`]);
  return () => execFileSync('scontrol', ['update', `partitionname=${name}`, `${field}=${restore}`]);
}

/** Cancels every job of a test project still in Slurm (a failed test must not leave jobs behind). */
export async function cancelProjectJobs(project: string): Promise<void> {
  const { SlurmClient } = await import('../src/client/slurm-client.js');
  const { decodeJobMark } = await import('../src/job/job-comment.js');
  const { hasEnded } = await import('../src/client/records.js');
  const client = new SlurmClient({ url: SLURM_URL, token: slurmToken() });
  try {
    for (const job of await client.jobs()) {
      if (!hasEnded(job) && decodeJobMark(job.comment)?.project === project) await client.cancel(job.jobId);
    }
  } finally {
    client.close();
  }
}
