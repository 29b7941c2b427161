/**
 * Test fixture for local-process-runner.test.ts: starts a process group through LocalProcessRunner,
 * aborts it once the grandchild's pid is printed, prints `exit <pid>` when the exit event arrives, and
 * then lets this process end by itself. The test measures how long it stays alive after that line.
 *
 * Usage: node --conditions=source --import tsx stop-and-exit.ts <orphan|trap> [killGraceMs]
 *   orphan: the grandchild is orphaned at once (a double fork) and dies of SIGTERM; nobody but init
 *           reaps it, so it may linger as a zombie.
 *   trap:   the shell and the grandchild ignore SIGTERM; only the SIGKILL after the grace ends them.
 */
import { LocalProcessRunner } from '../local-process-runner.js';

const [mode, grace] = process.argv.slice(2);
const script =
  mode === 'trap'
    ? "trap '' TERM; sleep 60 >/dev/null 2>&1 & echo $!; wait"
    : '(sleep 60 >/dev/null 2>&1 & echo $!); sleep 60';
const controller = new AbortController();
let grandchild = 0;
new LocalProcessRunner()
  .exec(
    { argv: ['sh', '-c', script], ...(grace === undefined ? {} : { killGraceMs: Number(grace) }) },
    { signal: controller.signal },
  )
  .subscribe({
    next: (event) => {
      if (event.type === 'stdout' && grandchild === 0) {
        grandchild = Number(event.data.toString().trim());
        controller.abort();
      }
      if (event.type === 'exit') process.stdout.write(`exit ${grandchild} ${event.reason ?? ''}\n`);
    },
    error: (error: unknown) => {
      process.stderr.write(`${String(error)}\n`);
      process.exitCode = 1;
    },
  });
