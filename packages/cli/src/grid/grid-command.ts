import { resolve } from 'node:path';
import { formatBytes, formatDuration } from '@beamline/core';
import { InvalidArgumentError } from '@commander-js/extra-typings';
import {
  download,
  isGridError,
  loadInputFile,
  type DownloadOptions,
  type GridEvent,
} from '@beamline/plugin-grid';
import type { CliCommand } from '../cli-command.js';
import { ExitCode, type CliIO } from '../cli-io.js';
import { collectChoice, positiveInteger } from '../args/option-parsers.js';
import { DownloadProgress } from './download-progress.js';

const CHECKSUMS = ['adler32', 'md5', 'sha256'] as const;

const NOTES = `
Bearer tokens are found in the WLCG order: $BEARER_TOKEN, $BEARER_TOKEN_FILE,
$XDG_RUNTIME_DIR/bt_u<uid>, /tmp/bt_u<uid>.
Ctrl-C stops cleanly and keeps .part files: run the same command again to resume.
Exit codes: 0 all files verified, 1 a file failed, 2 bad input.`;

/**
 * `--limit-rate`: bytes per second as curl's `--limit-rate` reads them (this flag matches curl's): a
 * bare number is bytes, `k`, `m`, `g` multiply by 1024.
 */
export function parseRate(value: string): number {
  const match = /^(\d+(?:\.\d+)?)([kmg]?)$/i.exec(value.trim());
  const scale = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[
    (match?.[2] ?? '').toLowerCase() as '' | 'k' | 'm' | 'g'
  ];
  const rate = match ? Math.round(Number(match[1]) * scale) : 0;
  if (rate <= 0)
    throw new InvalidArgumentError('expected bytes per second like 500k or 50m, as curl --limit-rate.');
  return rate;
}

/** `beamline grid download`: verified, resumable downloads from grid storage. */
export const gridCommand: CliCommand = (program, { io, exit }) => {
  const grid = program
    .command('grid')
    .summary('download files from grid storage, verified and resumable')
    .description('Grid storage: verified, resumable downloads over HTTP(S), WebDAV and root://.');

  grid
    .command('download')
    .summary('download the files of a list into a folder')
    .description(
      'Downloads the files of a list (JSON file list, AliceTraINT task JSON, one URL per line) or a ' +
        'Metalink 4 file into DIR: verified checksums, resumable .part files, replica failover.',
    )
    .argument('<list>', 'the file list or .meta4 file')
    .requiredOption('--dest <dir>', 'destination folder')
    .option('--parallel <n>', 'files at once (default 4)', positiveInteger)
    .option('--per-host <n>', 'files at once per storage element / host (default 2)', positiveInteger)
    .option('--segments <n>', 'Range segments for large files (default 1)', positiveInteger)
    .option('--cache <dir>', 'shared content cache (files already verified there are linked, not fetched)')
    .option(
      '--limit-rate <rate>',
      'bandwidth cap of the job in bytes/s, as curl --limit-rate (500k, 50m)',
      parseRate,
    )
    .option(
      '--checksum <alg>',
      `also compute ALG (${CHECKSUMS.join(', ')}); repeatable`,
      collectChoice(CHECKSUMS),
    )
    .option('--cert <file>', 'client certificate: a .p12 (passphrase from $GRID_P12_PASSPHRASE) or PEM')
    .option('--key <file>', 'private key for a PEM --cert')
    .option('--dry-run', 'print the plan (which file from which replica into which path) and stop')
    .option('--json', 'one JSON event per line on stdout instead of progress bars')
    .addHelpText('after', NOTES)
    .action(async (list, options) => {
      const files = await loadInputFile(resolve(io.cwd, list));
      const cert = options.cert === undefined ? undefined : resolve(io.cwd, options.cert);
      const downloadOptions: DownloadOptions = {
        dest: resolve(io.cwd, options.dest),
        signal: io.signal,
        ...(options.parallel !== undefined && { parallel: options.parallel }),
        ...(options.perHost !== undefined && { perHost: options.perHost }),
        ...(options.segments !== undefined && { segments: options.segments }),
        ...(options.cache !== undefined && { cacheDir: resolve(io.cwd, options.cache) }),
        ...(options.limitRate !== undefined && { bandwidthLimit: options.limitRate }),
        ...(options.checksum !== undefined && { checksums: options.checksum }),
        ...(options.dryRun === true && { dryRun: true }),
        credentials: {
          env: io.env,
          ...(cert !== undefined && {
            clientCert: /\.(p12|pfx)$/i.test(cert)
              ? {
                  p12: cert,
                  ...(io.env.GRID_P12_PASSPHRASE !== undefined && { passphrase: io.env.GRID_P12_PASSPHRASE }),
                }
              : { cert, ...(options.key !== undefined && { key: resolve(io.cwd, options.key) }) },
          }),
        },
      };
      exit(await runDownload(files, downloadOptions, io, options.json === true));
    });
};

/** Runs the download, showing its events; an interruption keeps the .part files and says how to resume. */
async function runDownload(
  files: Awaited<ReturnType<typeof loadInputFile>>,
  options: DownloadOptions,
  io: CliIO,
  json: boolean,
): Promise<ExitCode> {
  const progress = !json && io.stdout.isTTY === true ? new DownloadProgress(io.stdout) : undefined;
  const onEvent = (event: GridEvent): void => {
    if (json) io.stdout.write(`${JSON.stringify(event)}\n`);
    else if (progress) progress.update(event);
    else printLine(event, io);
  };
  try {
    await new Promise<void>((done, fail) => {
      download(files, options).subscribe({ next: onEvent, error: fail, complete: done });
    });
    return ExitCode.ok;
  } catch (error) {
    if (!isGridError(error, 'GRID_ABORTED') && !io.signal.aborted) throw error;
    io.stderr.write(
      'beamline grid download: interrupted; .part files are kept, run the same command again to resume\n',
    );
    return ExitCode.failed;
  } finally {
    progress?.finish();
  }
}

/** Plain lines for logs and pipes (no terminal): decisions and outcomes, no per-chunk progress. */
function printLine(event: GridEvent, io: CliIO): void {
  switch (event.type) {
    case 'plan':
      for (const file of event.files) {
        io.stdout.write(
          `${file.action.padEnd(8)} ${file.name} -> ${file.path}${file.replicas[0] ? ` from ${file.replicas[0]}` : ''}\n`,
        );
      }
      io.stdout.write(
        `${event.files.length} files, ${formatBytes(event.totalBytes)}, ${formatBytes(event.fetchBytes)} to fetch${event.dryRun ? ' (dry run)' : ''}\n`,
      );
      return;
    case 'file-done':
      io.stdout.write(
        `ok       ${event.file.name} (${formatBytes(event.file.size)}, ${event.file.source})\n`,
      );
      return;
    case 'file-failed':
      io.stderr.write(`failed   ${event.name}: ${event.error.code}: ${event.error.message}\n`);
      return;
    case 'replica-switch':
      io.stderr.write(
        `switch   ${event.name}: ${event.error.code} on ${event.from}${event.to ? `, trying ${event.to}` : ''}\n`,
      );
      return;
    case 'retry':
      io.stderr.write(
        `retry    ${event.name}: ${event.error.code}, again in ${formatDuration(event.delayMs)}\n`,
      );
      return;
    case 'resume':
    case 'log':
      io.stderr.write(`note     ${event.message}\n`);
      return;
    case 'done':
      io.stdout.write(
        `done: ${event.files.length} files, ${formatBytes(event.transferred)} transferred in ${formatDuration(event.durationMs)}\n`,
      );
      return;
    case 'progress':
    case 'file-start':
      return;
  }
}
