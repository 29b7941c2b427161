import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { InvalidArgumentError } from '@commander-js/extra-typings';
import { loadShareConfig, ShareCluster, ShareServer, type AccessEvent } from '@beamline/plugin-webdav';
import type { CliCommand } from '../cli-command.js';
import { CliError } from '../cli-error.js';
import { ExitCode, type CliIO } from '../cli-io.js';
import { printPasswordHash } from './serve-command-password.js';
import { addServeInference } from './serve-inference.js';

const NOTES = `
The configuration (YAML, JSON or a module exporting defineShares({...})) names the shares, their
folders, who may read and write, users (scrypt hashes), tokens, and optionally listen and tls; the
flags override its listen and tls. Without either: 127.0.0.1:8080, plain HTTP.
--workers N runs N processes on the one port (default: the machine's cores); they share locks,
Digest nonces, failed logins and quota through the state file; a worker that dies is replaced.
One JSON line per request on stdout with --access-log (never with credentials; "pid" names the worker).
--hash-password reads a password from stdin (typed twice without echo at a terminal, else the first
line) and prints its scrypt hash for users.<name>.password (with --digest-user NAME and --config, the
user's whole entry with its Digest secret); it never takes a password on the command line.
Ctrl-C or SIGTERM stops: requests in flight may finish (10 s), then the server closes.
Exit codes: 0 stopped cleanly, 1 could not start, 2 bad configuration or flags.`;

function workers(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed < 1 || parsed > 256)
    throw new InvalidArgumentError('expected a number of worker processes from 1 to 256.');
  return parsed;
}

function port(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed > 65_535)
    throw new InvalidArgumentError('expected a port number from 0 to 65535.');
  return parsed;
}

/**
 * `beamline serve webdav` (the WebDAV share server of @beamline/plugin-webdav) and `beamline serve
 * inference` (the model server of @beamline/plugin-inference), stand-alone.
 */
export const serveCommand: CliCommand = (program, context) => {
  const { io, exit } = context;
  const serve = program
    .command('serve')
    .summary('run a server stand-alone (webdav, inference)')
    .description('Runs a server of an official plugin in the foreground until Ctrl-C.');

  serve
    .command('webdav')
    .summary('serve WebDAV shares from a configuration file')
    .description(
      'Serves the shares of a configuration file over WebDAV (HTML listings for browsers, Basic, ' +
        'Digest and bearer logins, locks, ranges), over HTTPS when given a certificate and key.',
    )
    .option('--config <file>', 'the shares configuration (shares.yaml); required to serve')
    .option('--host <host>', 'address to listen on (default: the configuration, else 127.0.0.1)')
    .option('--port <port>', 'port to listen on (default: the configuration, else 8080; 0 picks one)', port)
    .option('--cert <file>', 'TLS certificate (PEM); with --key, serve HTTPS')
    .option('--key <file>', 'TLS private key (PEM)')
    .option(
      '--workers <n>',
      `worker processes on the one port (default: ${availableParallelism()}, the cores here)`,
      workers,
    )
    .option('--access-log', 'print every request as a JSON line on stdout')
    .option('--hash-password', 'read a password from stdin, print its scrypt hash, and exit')
    .option(
      '--digest-user <name>',
      "with --hash-password and --config: print the user's entry with its Digest secret (the file's realm)",
    )
    .addHelpText('after', NOTES)
    .action(async (options) => {
      if (options.hashPassword === true) {
        if (options.digestUser !== undefined && options.config === undefined)
          throw new CliError(
            'CLI_USAGE',
            '--digest-user needs --config (the Digest secret depends on its realm).',
          );
        const realm =
          options.config === undefined
            ? undefined
            : (await loadShareConfig(resolve(io.cwd, options.config))).realm;
        await printPasswordHash(
          io,
          options.digestUser === undefined || realm === undefined
            ? undefined
            : { user: options.digestUser, realm },
        );
        exit(ExitCode.ok);
        return;
      }
      if (options.config === undefined)
        throw new CliError('CLI_USAGE', "required option '--config <file>' not specified");
      if ((options.cert === undefined) !== (options.key === undefined))
        throw new CliError('CLI_USAGE', '--cert and --key go together (both PEM files).');
      const config = await loadShareConfig(resolve(io.cwd, options.config));
      const tls =
        options.cert !== undefined && options.key !== undefined
          ? { cert: resolve(io.cwd, options.cert), key: resolve(io.cwd, options.key) }
          : config.tls;
      const listen = {
        host: options.host ?? config.listen?.host ?? '127.0.0.1',
        port: options.port ?? config.listen?.port ?? 8080,
        ...(tls && { tls }),
      };
      const count = options.workers ?? availableParallelism();
      exit(await serveShares(config, listen, io, options.accessLog === true, count));
    });

  addServeInference(serve, context);
};

async function serveShares(
  config: Awaited<ReturnType<typeof loadShareConfig>>,
  listen: Parameters<ShareServer['listen']>[0],
  io: CliIO,
  accessLog: boolean,
  workers: number,
): Promise<ExitCode> {
  // One process: the server itself; more: a cluster whose primary's server carries every worker's
  // access events and warnings.
  const cluster =
    workers > 1
      ? await ShareCluster.start(config, { ...listen, workers, accessEvents: accessLog })
      : undefined;
  const server = cluster?.server ?? (await ShareServer.open(config));
  server.events.on('warning', (warning) => io.stderr.write(`warning: ${warning.message}\n`));
  for (const warning of server.startupWarnings) io.stderr.write(`warning: ${warning.message}\n`);
  if (accessLog)
    server.events.on('access', (event: AccessEvent) => io.stdout.write(`${JSON.stringify(event)}\n`));
  try {
    const url = cluster?.url ?? (await server.listen(listen)).url;
    const mount = config.mount.length > 0 ? `/${config.mount.join('/')}` : '';
    const paths = config.shares.map((share) => `${url}${mount}${share.path}/`).join(', ');
    io.stdout.write(`serving ${paths}${cluster ? ` with ${workers} worker processes` : ''}\n`);
    if (!io.signal.aborted)
      await new Promise<void>((done) => io.signal.addEventListener('abort', () => done(), { once: true }));
    io.stderr.write('stopping: requests in flight may finish (up to 10 s)\n');
  } finally {
    if (cluster) await cluster.close(10_000);
    else await server.close(10_000);
  }
  return ExitCode.ok;
}
