import { InvalidArgumentError } from '@commander-js/extra-typings';
import { startWorker } from '@beamline/plugin-postgres';
import type { CliCommand } from '../cli-command.js';
import { CliError } from '../cli-error.js';
import { ExitCode } from '../cli-io.js';
import { queueUrl } from '../cli-services.js';
import { defaultPlugins } from '../default-plugins.js';

const NOTES = `
Takes steps of distributed runs (beamline run --queue) whose runner it has (local, docker), whose
runs-on labels it offers and whose resources fit its pool, one heartbeat-held lease each; the run's
folder must be reachable here at the same path (a shared file system).
Ctrl-C or SIGTERM stops: running steps are stopped and handed back to the queue at once.
Exit codes: 0 stopped cleanly, 1 could not start, 2 bad flags.`;

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed < 1) throw new InvalidArgumentError('expected a whole number ≥ 1.');
  return parsed;
}

function idList(value: string): string[] {
  const ids = value
    .split(',')
    .map((id) => id.trim())
    .filter((id) => id !== '');
  if (ids.some((id) => !/^[A-Za-z0-9:_-]+$/.test(id))) {
    throw new InvalidArgumentError('expected GPU ids separated by commas (0,1 or GPU-uuid).');
  }
  return ids;
}

/** `beamline worker`: a worker of the distributed mode (@beamline/plugin-postgres) on this host. */
export const workerCommand: CliCommand = (program, { io, exit }) => {
  program
    .command('worker')
    .summary('run steps of distributed runs from a shared queue')
    .description('Runs steps that `beamline run --queue` hands to the queue, on this host, until Ctrl-C.')
    .option(
      '--queue <url>',
      'the shared queue, postgres://user:password@host:5432/database (default $BEAMLINE_QUEUE)',
    )
    .option(
      '--labels <labels>',
      'capability labels this host offers, comma-separated: gpu=a100,mem=64g,docker',
    )
    .option('--gpus <ids>', 'GPU ids this worker hands out (default: CUDA_VISIBLE_DEVICES)', idList)
    .option('--concurrency <n>', 'most steps at once (default 1)', positiveInteger)
    .option('--name <name>', 'the name this worker goes by in the queue (default <host>:<pid>:<random>)')
    .addHelpText('after', NOTES)
    .action(async (options) => {
      const url = queueUrl(io, options.queue);
      if (url === undefined) {
        throw new CliError('CLI_USAGE', 'no queue: pass --queue postgres://… or set BEAMLINE_QUEUE.');
      }
      const worker = await startWorker({
        url,
        plugins: defaultPlugins(io.env),
        onMessage: (line) => io.stderr.write(`${line}\n`),
        ...(options.labels === undefined ? {} : { labels: options.labels }),
        ...(options.gpus === undefined ? {} : { gpus: options.gpus }),
        ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
        ...(options.name === undefined ? {} : { name: options.name }),
      });
      io.stdout.write(`worker ${worker.worker.name} waiting for steps\n`);
      if (!io.signal.aborted) {
        await new Promise<void>((done) => io.signal.addEventListener('abort', () => done(), { once: true }));
      }
      io.stderr.write('stopping: running steps are handed back to the queue\n');
      await worker.stop();
      exit(ExitCode.ok);
    });
};
