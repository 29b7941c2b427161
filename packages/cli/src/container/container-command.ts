import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  buildImage,
  DockerRunner,
  exitError,
  isDockerError,
  labelKeys,
  loadImage,
  pullImage,
  type ProgressMessage,
  type PullPolicy,
} from '@beamline/plugin-docker';
import { ExitCode, type CliCommand, type CliIO } from '../cli-command.js';
import { isCliError } from '../cli-error.js';
import { runSpec } from './container-args.js';

const USAGE = `Usage: beamline container <run|pull|build|load|janitor> [options]

  run IMAGE [options] [-- ARGS...]   run a job container (a drop-in for the TRE's ces-run / ces-gpu-run)
      --profile NAME     default | tre (TRE contract: /safe_data ro, fresh /safe_outputs, /scratch, no network)
      --data DIR         host data folder, mounted read-only at /safe_data (tre; must exist)
      --outputs DIR      host outputs folder for /safe_outputs (tre; default ~/outputs_<id>)
      --gpus IDS         GPU device ids (0,2 or UUIDs) or "all"
      -c, --cpus N       CPU cores (may be fractional)
      -m, --memory SIZE  memory: GB (4) or 512m / 8g; tre default 4 GB
      -n, --name NAME    container name (default <project>-<step>-<id>)
      --env-file FILE    KEY=VALUE lines (repeatable); -e, --env KEY=VALUE (repeatable)
      --timeout T        wall-clock limit: seconds, or 30m / 2h; the container is stopped (TERM, grace, KILL)
      --user U           uid:gid (default: yours), --workdir DIR, --network NAME
      --project NAME     project label and name prefix (default $BEAMLINE_PROJECT or beamline)
      --dry-run          print the equivalent docker run line and the API body; run nothing
  pull IMAGE [--policy never|missing|always] [--retries N]
  build CONTEXT --repository REPO --version V [--dockerfile F] [--build-arg K=V]...
                                     tagged REPO:V and REPO:<date>, never latest; .dockerignore honoured
  load FILE                          load a docker save tar
  janitor [--project NAME]           remove your leftover containers of the project (never anyone else's)

Images need an explicit tag or digest (untagged and latest are refused). Ctrl-C stops and removes the
container. Exit codes: 0 ok, 1 failed (including a non-zero container exit), 2 bad input.`;

type Options = NonNullable<ParseArgsConfig['options']>;
const COMMON = { project: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const satisfies Options;

/** Docker errors that mean the request itself was wrong: exit 2. */
const BAD_INPUT = new Set([
  'DOCKER_SPEC_INVALID',
  'DOCKER_IMAGE_REF_INVALID',
  'DOCKER_MOUNT_SOURCE_MISSING',
  'DOCKER_NO_COMMAND',
  'DOCKER_NAME_CONFLICT',
]);

function fail(io: CliIO, sub: string, error: unknown): ExitCode {
  const message = error instanceof Error ? error.message : String(error);
  const code = isDockerError(error) || isCliError(error) ? ` (${error.code})` : '';
  io.stderr.write(`beamline container ${sub}: ${message}${code}\n`);
  if (isCliError(error)) return ExitCode.badInput;
  return isDockerError(error) && BAD_INPUT.has(error.code) ? ExitCode.badInput : ExitCode.failed;
}

function parse<O extends Options>(sub: string, args: readonly string[], options: O, io: CliIO) {
  try {
    return parseArgs({ args: [...args], options: { ...options, ...COMMON }, allowPositionals: true, strict: true });
  } catch (error) {
    io.stderr.write(`beamline container ${sub}: ${(error as Error).message}\n\n${USAGE}\n`);
    return undefined;
  }
}

function positional(sub: string, positionals: string[], name: string, io: CliIO): string | undefined {
  if (positionals.length !== 1) {
    io.stderr.write(`beamline container ${sub}: expected exactly one ${name}, got ${positionals.length}\n\n${USAGE}\n`);
    return undefined;
  }
  return positionals[0];
}

const project = (v: { project?: string | undefined }, io: CliIO): string => v.project ?? io.env.BEAMLINE_PROJECT ?? 'beamline';

/** Progress lines worth printing (layer byte counters would flood a log). */
function printProgress(io: CliIO): (m: ProgressMessage) => void {
  return (m) => {
    if (m.progressDetail?.current !== undefined) return;
    const text = (m.stream ?? (m.status === undefined ? '' : `${m.id ? `${m.id}: ` : ''}${m.status}\n`)).replace(/\n+$/, '');
    if (text !== '') io.stderr.write(`${text}\n`);
  };
}

async function runCmd(args: readonly string[], io: CliIO): Promise<ExitCode> {
  const dash = args.indexOf('--');
  const own = dash < 0 ? args : args.slice(0, dash);
  const jobArgs = dash < 0 ? [] : args.slice(dash + 1);
  const parsed = parse(
    'run',
    own,
    {
      profile: { type: 'string' },
      gpus: { type: 'string' },
      cpus: { type: 'string', short: 'c' },
      memory: { type: 'string', short: 'm' },
      name: { type: 'string', short: 'n' },
      'env-file': { type: 'string', multiple: true },
      env: { type: 'string', short: 'e', multiple: true },
      data: { type: 'string' },
      outputs: { type: 'string' },
      timeout: { type: 'string' },
      user: { type: 'string' },
      workdir: { type: 'string', short: 'w' },
      network: { type: 'string' },
      'dry-run': { type: 'boolean' },
    },
    io,
  );
  if (parsed === undefined) return ExitCode.badInput;
  const v = parsed.values;
  if (v.help) {
    io.stdout.write(`${USAGE}\n`);
    return ExitCode.ok;
  }
  const image = positional('run', parsed.positionals, 'IMAGE (put the command after --)', io);
  if (image === undefined) return ExitCode.badInput;
  try {
    const spec = await runSpec(image, jobArgs, v, io.cwd, io.env);
    const runner = new DockerRunner({ project: project(v, io) });
    if (v['dry-run']) {
      const dry = runner.dryRun(spec);
      io.stdout.write(`${dry.command}\n\n${JSON.stringify(dry.body, null, 2)}\n`);
      return ExitCode.ok;
    }
    let stderrTail = '';
    let name = image;
    const exit = await new Promise<Parameters<typeof exitError>[0]>((done, reject) => {
      let last: Parameters<typeof exitError>[0] | undefined;
      runner.run(spec, { signal: io.signal }).subscribe({
        next: (e) => {
          if (e.type === 'started') name = e.name ?? name;
          else if (e.type === 'stdout') io.stdout.write(e.data);
          else if (e.type === 'stderr') {
            io.stderr.write(e.data);
            stderrTail = (stderrTail + e.data.toString('utf8')).slice(-2000);
          } else last = e;
        },
        error: reject,
        complete: () => (last === undefined ? reject(new Error('the run ended without an exit')) : done(last)),
      });
    });
    const error = exitError(exit, name);
    if (error === undefined) return ExitCode.ok;
    return fail(io, 'run', error);
  } catch (error) {
    return fail(io, 'run', error);
  }
}

async function pullCmd(args: readonly string[], io: CliIO): Promise<ExitCode> {
  const parsed = parse('pull', args, { policy: { type: 'string' }, retries: { type: 'string' } }, io);
  if (parsed === undefined) return ExitCode.badInput;
  if (parsed.values.help) return io.stdout.write(`${USAGE}\n`), ExitCode.ok;
  const image = positional('pull', parsed.positionals, 'IMAGE', io);
  if (image === undefined) return ExitCode.badInput;
  const policy = parsed.values.policy ?? 'missing';
  const retries = parsed.values.retries === undefined ? 2 : Number(parsed.values.retries);
  if (!['never', 'missing', 'always'].includes(policy) || !Number.isInteger(retries) || retries < 0) {
    io.stderr.write('beamline container pull: --policy must be never, missing or always; --retries a whole number\n');
    return ExitCode.badInput;
  }
  try {
    const runner = new DockerRunner({ project: project(parsed.values, io) });
    const r = await pullImage(runner.docker, image, { policy: policy as PullPolicy, retries, signal: io.signal, onProgress: printProgress(io) });
    io.stdout.write(`${r.image} ${r.id}${r.pulled ? '' : ' (already present)'}\n`);
    return ExitCode.ok;
  } catch (error) {
    return fail(io, 'pull', error);
  }
}

async function buildCmd(args: readonly string[], io: CliIO): Promise<ExitCode> {
  const parsed = parse(
    'build',
    args,
    {
      repository: { type: 'string' },
      version: { type: 'string' },
      dockerfile: { type: 'string', short: 'f' },
      'build-arg': { type: 'string', multiple: true },
    },
    io,
  );
  if (parsed === undefined) return ExitCode.badInput;
  const v = parsed.values;
  if (v.help) return io.stdout.write(`${USAGE}\n`), ExitCode.ok;
  const context = positional('build', parsed.positionals, 'CONTEXT folder', io);
  if (context === undefined) return ExitCode.badInput;
  if (v.repository === undefined || v.version === undefined) {
    io.stderr.write('beamline container build: --repository and --version are required (tags REPO:VERSION and REPO:<date>)\n');
    return ExitCode.badInput;
  }
  const buildArgs: Record<string, string> = {};
  for (const pair of v['build-arg'] ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      io.stderr.write(`beamline container build: --build-arg must be KEY=VALUE, got "${pair}"\n`);
      return ExitCode.badInput;
    }
    buildArgs[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  try {
    const runner = new DockerRunner({ project: project(v, io) });
    const k = labelKeys(runner.ownership.namespace);
    const r = await buildImage(runner.docker, {
      context: resolve(io.cwd, context),
      repository: v.repository,
      version: v.version,
      buildArgs,
      labels: { [k.managed]: 'true', [k.project]: runner.ownership.project, [k.owner]: runner.ownership.owner },
      signal: io.signal,
      onProgress: printProgress(io),
      ...(v.dockerfile === undefined ? {} : { dockerfile: v.dockerfile }),
    });
    io.stdout.write(`${r.id} ${r.tags.join(' ')}\n`);
    return ExitCode.ok;
  } catch (error) {
    return fail(io, 'build', error);
  }
}

async function loadCmd(args: readonly string[], io: CliIO): Promise<ExitCode> {
  const parsed = parse('load', args, {}, io);
  if (parsed === undefined) return ExitCode.badInput;
  if (parsed.values.help) return io.stdout.write(`${USAGE}\n`), ExitCode.ok;
  const file = positional('load', parsed.positionals, 'FILE', io);
  if (file === undefined) return ExitCode.badInput;
  try {
    const runner = new DockerRunner({ project: project(parsed.values, io) });
    const r = await loadImage(runner.docker, resolve(io.cwd, file), { signal: io.signal });
    io.stdout.write(`${r.images.join('\n')}\n`);
    return ExitCode.ok;
  } catch (error) {
    return fail(io, 'load', error);
  }
}

async function janitorCmd(args: readonly string[], io: CliIO): Promise<ExitCode> {
  const parsed = parse('janitor', args, {}, io);
  if (parsed === undefined) return ExitCode.badInput;
  if (parsed.values.help) return io.stdout.write(`${USAGE}\n`), ExitCode.ok;
  if (parsed.positionals.length > 0) {
    io.stderr.write(`beamline container janitor: unexpected argument "${parsed.positionals[0] ?? ''}"\n`);
    return ExitCode.badInput;
  }
  try {
    const report = await new DockerRunner({ project: project(parsed.values, io) }).janitor();
    for (const e of [...report.removed, ...report.kept, ...report.reported, ...report.failed]) {
      io.stdout.write(`${e.action}\t${e.name}\t${e.state}\t${e.why}\n`);
    }
    io.stdout.write(`removed ${report.removed.length}, kept ${report.kept.length}, reported ${report.reported.length}, failed ${report.failed.length}\n`);
    return report.failed.length > 0 ? ExitCode.failed : ExitCode.ok;
  } catch (error) {
    return fail(io, 'janitor', error);
  }
}

const SUBCOMMANDS: Readonly<Record<string, (args: readonly string[], io: CliIO) => Promise<ExitCode>>> = {
  run: runCmd,
  pull: pullCmd,
  build: buildCmd,
  load: loadCmd,
  janitor: janitorCmd,
};

/** `beamline container <run|pull|build|load|janitor>`: containers with the shared-server and TRE rules. */
export const containerCommand: CliCommand = {
  name: 'container',
  summary: 'Run job containers (TRE profile, GPUs, limits, dry-run); pull, build, load images; clean up',
  usage: USAGE,
  async run(args: readonly string[], io: CliIO): Promise<ExitCode> {
    const [sub, ...rest] = args;
    if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
      io.stdout.write(`${USAGE}\n`);
      return sub === undefined ? ExitCode.badInput : ExitCode.ok;
    }
    const handler = SUBCOMMANDS[sub];
    if (handler === undefined) {
      io.stderr.write(`beamline container: unknown subcommand "${sub}"; expected run, pull, build, load or janitor\n`);
      return ExitCode.badInput;
    }
    return handler(rest, io);
  },
};
