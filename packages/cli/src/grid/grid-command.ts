import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  download,
  isGridError,
  loadInputFile,
  type DownloadOptions,
  type GridEvent,
} from '@beamline/plugin-grid';
import { ExitCode, type CliCommand, type CliIO } from '../cli-command.js';
import { ProgressBars } from './progress-bars.js';

const USAGE = `Usage: beamline grid download <list|.meta4> --dest DIR [options]

Downloads the files of a list (JSON file list, AliceTraINT task JSON, one-URL-per-line text) or a
Metalink 4 file into DIR: verified checksums, resumable .part files, replica failover.

Options:
  --dest DIR          destination directory (required)
  --parallel N        files at once (default 4)
  --per-host N        files at once per storage element / host (default 2)
  --segments N        Range segments for large files (default 1)
  --cache DIR         shared content cache (files already verified there are linked, not fetched)
  --limit-rate BYTES  job bandwidth cap in bytes/s (suffixes k, m, g)
  --checksum ALG      also compute ALG (adler32, md5, sha256); repeatable
  --cert FILE         client certificate: a .p12 (passphrase from $GRID_P12_PASSPHRASE) or PEM
  --key FILE          private key for a PEM --cert
  --dry-run           print the plan (which file from which replica into which path) and stop
  --json              one JSON event per line on stdout instead of progress bars
  -h, --help          this text

Bearer tokens are found in the WLCG order ($BEARER_TOKEN, $BEARER_TOKEN_FILE, $XDG_RUNTIME_DIR/bt_u<uid>,
/tmp/bt_u<uid>). Ctrl-C stops cleanly and keeps .part files: run the same command again to resume.
Exit codes: 0 all files verified, 1 a file failed, 2 bad input.`;

/** `beamline grid <subcommand>`; only `download` for now. */
export const gridCommand: CliCommand = {
  name: 'grid',
  summary: 'Download files from grid storage, verified and resumable',
  usage: USAGE,
  async run(args: readonly string[], io: CliIO): Promise<ExitCode> {
    const [sub, ...rest] = args;
    if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
      io.stdout.write(`${USAGE}\n`);
      return sub === undefined ? ExitCode.badInput : ExitCode.ok;
    }
    if (sub !== 'download') {
      io.stderr.write(`beamline grid: unknown subcommand "${sub}"; expected "download"\n`);
      return ExitCode.badInput;
    }
    return runDownload(rest, io);
  },
};

function parseSize(v: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([kmg]?)$/i.exec(v.trim());
  if (!m) return undefined;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.round(Number(m[1]) * mult);
}

function positiveInt(name: string, v: string | undefined, io: CliIO): number | undefined | null {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    io.stderr.write(`beamline grid download: --${name} must be a positive integer, got "${v}"\n`);
    return null;
  }
  return n;
}

async function runDownload(args: readonly string[], io: CliIO): Promise<ExitCode> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        dest: { type: 'string' },
        parallel: { type: 'string' },
        'per-host': { type: 'string' },
        segments: { type: 'string' },
        cache: { type: 'string' },
        'limit-rate': { type: 'string' },
        checksum: { type: 'string', multiple: true },
        cert: { type: 'string' },
        key: { type: 'string' },
        'dry-run': { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    io.stderr.write(`beamline grid download: ${(e as Error).message}\n\n${USAGE}\n`);
    return ExitCode.badInput;
  }
  const { values: v, positionals } = parsed;
  if (v.help) {
    io.stdout.write(`${USAGE}\n`);
    return ExitCode.ok;
  }
  if (positionals.length !== 1 || v.dest === undefined) {
    io.stderr.write(`beamline grid download: expected one input file and --dest DIR\n\n${USAGE}\n`);
    return ExitCode.badInput;
  }
  const parallel = positiveInt('parallel', v.parallel, io);
  const perHost = positiveInt('per-host', v['per-host'], io);
  const segments = positiveInt('segments', v.segments, io);
  if (parallel === null || perHost === null || segments === null) return ExitCode.badInput;
  const limit = v['limit-rate'] === undefined ? undefined : parseSize(v['limit-rate']);
  if (limit === undefined && v['limit-rate'] !== undefined) {
    io.stderr.write(
      `beamline grid download: --limit-rate must be bytes/s like 50m, got "${v['limit-rate']}"\n`,
    );
    return ExitCode.badInput;
  }
  const algs = v.checksum ?? [];
  const badAlg = algs.find((a) => !['adler32', 'md5', 'sha256'].includes(a));
  if (badAlg !== undefined) {
    io.stderr.write(`beamline grid download: --checksum must be adler32, md5 or sha256, got "${badAlg}"\n`);
    return ExitCode.badInput;
  }

  let files;
  try {
    files = await loadInputFile(resolve(io.cwd, positionals[0]!));
  } catch (e) {
    io.stderr.write(`beamline grid download: ${(e as Error).message}\n`);
    return ExitCode.badInput;
  }
  const cert = v.cert === undefined ? undefined : resolve(io.cwd, v.cert);
  const options: DownloadOptions = {
    dest: resolve(io.cwd, v.dest),
    signal: io.signal,
    ...(parallel !== undefined && { parallel }),
    ...(perHost !== undefined && { perHost }),
    ...(segments !== undefined && { segments }),
    ...(v.cache !== undefined && { cacheDir: resolve(io.cwd, v.cache) }),
    ...(limit !== undefined && { bandwidthLimit: limit }),
    ...(algs.length > 0 && { checksums: algs as Array<'adler32' | 'md5' | 'sha256'> }),
    ...(v['dry-run'] === true && { dryRun: true }),
    credentials: {
      env: io.env,
      ...(cert !== undefined && {
        clientCert: /\.(p12|pfx)$/i.test(cert)
          ? {
              p12: cert,
              ...(io.env.GRID_P12_PASSPHRASE !== undefined && { passphrase: io.env.GRID_P12_PASSPHRASE }),
            }
          : { cert, ...(v.key !== undefined && { key: resolve(io.cwd, v.key) }) },
      }),
    },
  };

  const json = v.json === true;
  const bars = !json && io.stdout.isTTY === true ? new ProgressBars(io.stdout) : undefined;
  const onEvent = (e: GridEvent) => {
    if (json) return void io.stdout.write(`${JSON.stringify(e)}\n`);
    if (bars) bars.update(e);
    else printLine(e, io);
  };
  return new Promise<ExitCode>((done) => {
    download(files, options).subscribe({
      next: onEvent,
      error: (e: unknown) => {
        bars?.finish();
        if (isGridError(e, 'GRID_ABORTED') || io.signal.aborted) {
          io.stderr.write(
            'beamline grid download: interrupted; .part files are kept, run the same command again to resume\n',
          );
        } else {
          io.stderr.write(`beamline grid download: ${(e as Error).message}\n`);
        }
        const input = isGridError(e) && (e.code === 'GRID_INPUT_INVALID' || e.code === 'GRID_DEST_INVALID');
        done(input ? ExitCode.badInput : ExitCode.failed);
      },
      complete: () => {
        bars?.finish();
        done(ExitCode.ok);
      },
    });
  });
}

function human(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** Plain lines for logs and pipes (no terminal): decisions and outcomes, no per-chunk progress. */
function printLine(e: GridEvent, io: CliIO): void {
  switch (e.type) {
    case 'plan':
      for (const f of e.files)
        io.stdout.write(
          `${f.action.padEnd(8)} ${f.name} -> ${f.path}${f.replicas[0] ? ` from ${f.replicas[0]}` : ''}\n`,
        );
      io.stdout.write(
        `${e.files.length} files, ${human(e.totalBytes)}, ${human(e.fetchBytes)} to fetch${e.dryRun ? ' (dry run)' : ''}\n`,
      );
      return;
    case 'file-done':
      io.stdout.write(`ok       ${e.file.name} (${human(e.file.size)}, ${e.file.source})\n`);
      return;
    case 'file-failed':
      io.stderr.write(`failed   ${e.name}: ${e.error.code}: ${e.error.message}\n`);
      return;
    case 'replica-switch':
      io.stderr.write(`switch   ${e.name}: ${e.error.code} on ${e.from}${e.to ? `, trying ${e.to}` : ''}\n`);
      return;
    case 'retry':
      io.stderr.write(`retry    ${e.name}: ${e.error.code}, again in ${(e.delayMs / 1000).toFixed(1)} s\n`);
      return;
    case 'resume':
    case 'log':
      io.stderr.write(`note     ${e.message}\n`);
      return;
    case 'done':
      io.stdout.write(
        `done: ${e.files.length} files, ${human(e.transferred)} transferred in ${(e.durationMs / 1000).toFixed(1)} s\n`,
      );
      return;
    case 'progress':
    case 'file-start':
      return;
  }
}
