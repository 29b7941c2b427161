import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError } from '@commander-js/extra-typings';
import { startWorker } from '@beamline/plugin-postgres';
import type { CliCommand } from '../cli-command.js';
import { CliError } from '../cli-error.js';
import { ExitCode, type CliIO } from '../cli-io.js';
import { artifactShare, queueUrl } from '../cli-services.js';
import { defaultPlugins } from '../default-plugins.js';

const NOTES = `
Takes steps of distributed runs (beamline run --queue) whose runner it has (local, docker), whose
runs-on labels it offers and whose resources fit its pool, one heartbeat-held lease each; the run's
folder must be reachable here at the same path (a shared file system), or, with --artifact-share (the
coordinator's), a step whose folder is not here runs in a private scratch folder: its inputs fetched
from the share by digest, its declared outputs uploaded there.
With --gateway the worker never connects to PostgreSQL: it talks HTTPS to a beamline gateway (outbound
only: it asks for work, the gateway never connects to it), with the token that beamline gateway token
add printed for it; the same leases, heartbeats, cancels and refused late results as with --queue.
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
    .option('--gateway <url>', 'a beamline gateway to go through instead of the queue: https://host:port')
    .option('--token-file <file>', "a file holding this worker's gateway token (with --gateway)")
    .option(
      '--ca <file>',
      'PEM certificate to trust for the gateway (its self-signed certificate), and for --artifact-share',
    )
    .option('--gpus <ids>', 'GPU ids this worker hands out (default: CUDA_VISIBLE_DEVICES)', idList)
    .option('--concurrency <n>', 'most steps at once (default 1)', positiveInteger)
    .option('--name <name>', 'the name this worker goes by in the queue (default <host>:<pid>:<random>)')
    .option(
      '--artifact-share <url>',
      "the coordinator's artifact share, for steps whose run folder is not on this host; default $BEAMLINE_ARTIFACT_SHARE",
    )
    .option(
      '--artifact-token-file <file>',
      'a file holding the bearer token of --artifact-share; default $BEAMLINE_ARTIFACT_TOKEN_FILE',
    )
    .addHelpText('after', NOTES)
    .action(async (options) => {
      const target = workerTarget(io, options);
      const share = artifactShare(io, options);
      // The gateway's certificate also serves its /artifacts/ route, the usual share of such a worker.
      const ca = 'gateway' in target ? target.gateway.ca : undefined;
      const artifacts = share === undefined || ca === undefined ? share : { ...share, ca };
      const worker = await startWorker({
        ...target,
        plugins: defaultPlugins(io.env),
        onMessage: (line) => io.stderr.write(`${line}\n`),
        ...(options.labels === undefined ? {} : { labels: options.labels }),
        ...(options.gpus === undefined ? {} : { gpus: options.gpus }),
        ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
        ...(options.name === undefined ? {} : { name: options.name }),
        ...(artifacts === undefined ? {} : { artifacts }),
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

/** Where the worker takes work from: the queue (`--queue`, `BEAMLINE_QUEUE`) or a gateway (`--gateway`). */
function workerTarget(
  io: CliIO,
  options: { queue?: string; gateway?: string; tokenFile?: string; ca?: string },
): { url: string } | { gateway: { url: string; token: string; ca?: Buffer } } {
  if (options.gateway === undefined) {
    if (options.tokenFile !== undefined || options.ca !== undefined) {
      throw new CliError('CLI_USAGE', '--token-file and --ca go with --gateway https://host:port.');
    }
    const url = queueUrl(io, options.queue);
    if (url === undefined) {
      throw new CliError(
        'CLI_USAGE',
        'no queue: pass --queue postgres://… (or set BEAMLINE_QUEUE), or --gateway https://… --token-file FILE.',
      );
    }
    return { url };
  }
  if (options.queue !== undefined) {
    throw new CliError('CLI_USAGE', '--queue and --gateway: pass one, not both.');
  }
  if (options.tokenFile === undefined) {
    throw new CliError(
      'CLI_USAGE',
      '--gateway needs --token-file FILE (the token beamline gateway token add printed).',
    );
  }
  const token = readText(io.cwd, options.tokenFile, '--token-file').toString('utf8').trim();
  if (token === '') throw new CliError('CLI_USAGE', `--token-file ${options.tokenFile}: the file is empty.`);
  return {
    gateway: {
      url: options.gateway,
      token,
      ...(options.ca === undefined ? {} : { ca: readText(io.cwd, options.ca, '--ca') }),
    },
  };
}

function readText(cwd: string, file: string, flag: string): Buffer {
  try {
    return readFileSync(resolve(cwd, file));
  } catch (error) {
    throw new CliError(
      'CLI_USAGE',
      `${flag} ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}).`,
    );
  }
}
