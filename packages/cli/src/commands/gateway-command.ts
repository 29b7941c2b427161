import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError } from '@commander-js/extra-typings';
import { parseMemory } from '@beamline/core';
import { GatewayTokens, startGateway } from '@beamline/plugin-postgres';
import type { CliCommand } from '../cli-command.js';
import { CliError } from '../cli-error.js';
import { ExitCode, type CliIO } from '../cli-io.js';
import { queueUrl } from '../cli-services.js';

const NOTES = `
For workers that cannot reach PostgreSQL (firewalled hosts): they run
  beamline worker --gateway https://HOST:PORT --token-file FILE [--ca CERT]
and only ever open HTTPS connections to this gateway (claims wait here for work), which claims, renews
leases and writes output and exits in the queue on their behalf: the same leases and refused late
results as a worker on the database. Each worker has its own token (beamline gateway token add NAME);
a revoked token is refused at its next request and that worker's steps go to others after the lease.
With --artifacts DIR, PUT/GET /artifacts/<sha256> keep and serve files by content (the body's sha256
is checked before it is kept), as a share does.
Exit codes: 0 stopped cleanly, 1 could not start, 2 bad flags.`;

const TOKEN_NOTES = `
Tokens are 256 random bits; the gateway keeps only their SHA-256 in the queue's database (a token
that cannot be guessed needs no slow hash), so add prints a token once: put it in a file (mode 600)
on the worker's host and pass it with --token-file.`;

function listenAddress(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (match === null || port > 65_535) {
    throw new InvalidArgumentError('expected host:port (0.0.0.0:8443, [::]:8443 or :8443).');
  }
  const host = match[1] ?? match[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

function size(value: string): number {
  const mib = parseMemory(value);
  if (mib === undefined || mib <= 0) throw new InvalidArgumentError('expected a size such as 16g or 512m.');
  return mib * 1024 * 1024;
}

function readPem(io: CliIO, file: string, flag: string): Buffer {
  try {
    return readFileSync(resolve(io.cwd, file));
  } catch (error) {
    throw new CliError(
      'CLI_USAGE',
      `${flag} ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}).`,
    );
  }
}

function requireQueue(io: CliIO, given: string | undefined): string {
  const url = queueUrl(io, given);
  if (url === undefined) {
    throw new CliError('CLI_USAGE', 'no queue: pass --queue postgres://… or set BEAMLINE_QUEUE.');
  }
  return url;
}

/** Runs `work` with the token table of the queue's database, closing the connection after. */
async function withTokens<T>(
  io: CliIO,
  queue: string | undefined,
  work: (tokens: GatewayTokens) => Promise<T>,
): Promise<T> {
  const { tokens, close } = await GatewayTokens.open({ url: requireQueue(io, queue) });
  try {
    return await work(tokens);
  } finally {
    await close();
  }
}

/** `beamline gateway`: the outbound-only HTTPS gateway for firewalled workers, and its tokens. */
export const gatewayCommand: CliCommand = (program, { io, exit }) => {
  const gateway = program
    .command('gateway')
    .summary('serve the queue over HTTPS to workers that cannot reach PostgreSQL')
    .description(
      'Serves the shared queue over HTTPS to workers that cannot reach PostgreSQL, until Ctrl-C; ' +
        '`beamline gateway token …` manages their tokens.',
    )
    .option(
      '--queue <url>',
      'the shared queue, postgres://user:password@host:5432/database (default $BEAMLINE_QUEUE)',
    )
    .option('--listen <host:port>', 'address and port to listen on (default 0.0.0.0:8443)', listenAddress)
    .option('--cert <file>', 'PEM certificate (chain) of the HTTPS listener')
    .option('--key <file>', 'PEM private key of the HTTPS listener')
    .option('--artifacts <dir>', 'keep and serve artifacts by sha256 in this folder (PUT/GET /artifacts/…)')
    .option('--max-artifact <size>', 'the largest artifact a worker may upload (default 16g)', size)
    .addHelpText('after', NOTES)
    .action(async (options) => {
      const url = requireQueue(io, options.queue);
      if (options.cert === undefined || options.key === undefined) {
        throw new CliError('CLI_USAGE', 'the gateway serves HTTPS only: pass --cert FILE and --key FILE.');
      }
      const listen = options.listen ?? { host: '0.0.0.0', port: 8443 };
      const started = await startGateway({
        url,
        host: listen.host,
        port: listen.port,
        cert: readPem(io, options.cert, '--cert'),
        key: readPem(io, options.key, '--key'),
        ...(options.artifacts === undefined ? {} : { artifactsDir: resolve(io.cwd, options.artifacts) }),
        ...(options.maxArtifact === undefined ? {} : { maxArtifactBytes: options.maxArtifact }),
        onMessage: (line) => io.stderr.write(`${line}\n`),
      });
      io.stdout.write(`gateway listening on ${started.url}\n`);
      if (!io.signal.aborted) {
        await new Promise<void>((done) => io.signal.addEventListener('abort', () => done(), { once: true }));
      }
      io.stderr.write('stopping the gateway\n');
      await started.stop();
      exit(ExitCode.ok);
    });

  const token = gateway
    .command('token')
    .summary("manage workers' gateway tokens")
    .description("Adds, lists and revokes workers' gateway tokens (stored hashed in the queue's database).")
    .addHelpText('after', TOKEN_NOTES);
  const queueOption = [
    '--queue <url>',
    'the shared queue, postgres://user:password@host:5432/database (default $BEAMLINE_QUEUE)',
  ] as const;

  token
    .command('add')
    .summary('make a token for a worker and print it once')
    .argument('<name>', 'the worker (host) the token is for: letters, digits, . _ -')
    .option(...queueOption)
    .action(async (name, options) => {
      const secret = await withTokens(io, options.queue, (tokens) => tokens.add(name));
      io.stdout.write(`${secret}\n`);
      io.stderr.write(
        `token ${name} added: it is shown only this once; put it in a file (chmod 600) on the worker's host\n`,
      );
      exit(ExitCode.ok);
    });

  token
    .command('list')
    .summary('list the tokens (names and dates, never the tokens)')
    .option(...queueOption)
    .action(async (options) => {
      const list = await withTokens(io, options.queue, (tokens) => tokens.list());
      if (list.length === 0) io.stdout.write('no gateway tokens\n');
      for (const entry of list) {
        const state = entry.revokedAt === null ? 'active' : `revoked ${entry.revokedAt.toISOString()}`;
        const used = entry.lastUsedAt === null ? 'never used' : `last used ${entry.lastUsedAt.toISOString()}`;
        io.stdout.write(`${entry.name}\t${state}\tcreated ${entry.createdAt.toISOString()}\t${used}\n`);
      }
      exit(ExitCode.ok);
    });

  token
    .command('revoke')
    .summary("revoke a worker's token (refused from its next request on)")
    .argument('<name>', 'the token to revoke')
    .option(...queueOption)
    .action(async (name, options) => {
      const revoked = await withTokens(io, options.queue, (tokens) => tokens.revoke(name));
      if (!revoked) {
        throw new CliError('CLI_NOT_FOUND', `no active gateway token named ${JSON.stringify(name)}.`);
      }
      io.stdout.write(`token ${name} revoked: its worker's requests are refused from now on\n`);
      exit(ExitCode.ok);
    });
};
