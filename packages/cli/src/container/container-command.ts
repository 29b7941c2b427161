import { resolve } from 'node:path';
import { Option } from '@commander-js/extra-typings';
import {
  buildImage,
  DockerRunner,
  exitError,
  labelKeys,
  loadImage,
  pullImage,
  type ProgressMessage,
} from '@beamline/plugin-docker';
import type { CliCommand } from '../cli-command.js';
import { ExitCode, type CliIO } from '../cli-io.js';
import { collect, collectPair, nonNegativeInteger } from '../args/option-parsers.js';
import { parseCpus, parseGpus, parseMemoryFlag, parseTimeout, runSpec } from './container-args.js';

const RULES = `
Images need an explicit tag or digest (untagged and latest are refused).
Ctrl-C stops and removes the container.
Exit codes: 0 ok, 1 failed (including a non-zero container exit), 2 bad input.`;

/** `--project`, on every container subcommand: whose containers these are. */
function projectOption() {
  return new Option(
    '--project <name>',
    'project label and name prefix (default $BEAMLINE_PROJECT or beamline)',
  );
}

function runnerFor(options: { project?: string | undefined }, io: CliIO): DockerRunner {
  return new DockerRunner({ project: options.project ?? io.env.BEAMLINE_PROJECT ?? 'beamline' });
}

/** `beamline container <run|pull|build|load|janitor>`: containers with the shared-server and TRE rules. */
export const containerCommand: CliCommand = (program, { io, exit }) => {
  const container = program
    .command('container')
    .summary('run job containers (TRE profile, GPUs, limits, dry run); pull, build, load images; clean up')
    .description('Job containers with the shared-server and TRE rules, and the images they run.')
    .addHelpText('after', RULES);

  container
    .command('run')
    .summary("run a job container (a drop-in for the TRE's ces-run / ces-gpu-run)")
    .description(
      "Runs a job container, a drop-in for the TRE's ces-run / ces-gpu-run: its stdout and stderr are " +
        "the job's, and its exit code decides the outcome. Put the job's command after --.",
    )
    .argument('<image>', 'the image, with an explicit tag or digest')
    .argument('[command...]', 'the command and its arguments (after --)')
    .option(
      '--profile <name>',
      'default | tre (TRE contract: /safe_data read-only, a fresh /safe_outputs, /scratch, no network)',
    )
    .option('--data <dir>', 'host data folder, mounted read-only at /safe_data (tre; must exist)')
    .option('--outputs <dir>', 'host outputs folder for /safe_outputs (tre; default ~/outputs_<id>)')
    .option('--gpus <ids>', 'GPU device ids (0,2 or UUIDs) or "all"', parseGpus)
    .option('-c, --cpus <n>', 'CPU cores (may be fractional)', parseCpus)
    .option(
      '-m, --memory <size>',
      'memory limit: 512m, 8g, 4GiB; a bare number is GB, as ces-run -m reads it (tre default: 4 GB)',
      parseMemoryFlag,
    )
    .option('-n, --name <name>', 'container name (default <project>-<step>-<id>)')
    .option('--env-file <file>', 'KEY=VALUE lines (repeatable)', collect)
    .option(
      '-e, --env <KEY=VALUE>',
      'an environment variable (repeatable; wins over --env-file)',
      collectPair,
    )
    .option(
      '--timeout <duration>',
      'wall-clock limit (90s, 30m, 2h); then the container is stopped (TERM, grace, KILL)',
      parseTimeout,
    )
    .option('--user <uid:gid>', 'the user to run as (default: yours)')
    .option('-w, --workdir <dir>', 'working directory in the container')
    .option('--network <name>', 'network to attach (tre: none)')
    .addOption(projectOption())
    .option('--dry-run', 'print the equivalent docker run line and the API body; run nothing')
    .addHelpText('after', RULES)
    .action(async (image, command, options) => {
      const spec = await runSpec(image, command, options, io.cwd, io.env);
      const runner = runnerFor(options, io);
      if (options.dryRun === true) {
        const dry = runner.dryRun(spec);
        io.stdout.write(`${dry.command}\n\n${JSON.stringify(dry.body, null, 2)}\n`);
        return exit(ExitCode.ok);
      }
      let name = image;
      const end = await new Promise<Parameters<typeof exitError>[0]>((done, reject) => {
        let last: Parameters<typeof exitError>[0] | undefined;
        runner.run(spec, { signal: io.signal }).subscribe({
          next: (event) => {
            if (event.type === 'started') name = event.name ?? name;
            else if (event.type === 'stdout') io.stdout.write(event.data);
            else if (event.type === 'stderr') io.stderr.write(event.data);
            else last = event;
          },
          error: reject,
          complete: () =>
            last === undefined ? reject(new Error('the container ended without an exit status')) : done(last),
        });
      });
      const error = exitError(end, name);
      if (error !== undefined) throw error;
      exit(ExitCode.ok);
    });

  container
    .command('pull')
    .summary('pull an image (with retries), or check that it is present')
    .argument('<image>', 'the image, with an explicit tag or digest')
    .addOption(
      new Option('--policy <policy>', 'when to pull')
        .choices(['never', 'missing', 'always'] as const)
        .default('missing'),
    )
    .option('--retries <n>', 'retries after a failed pull', nonNegativeInteger, 2)
    .addOption(projectOption())
    .addHelpText('after', RULES)
    .action(async (image, options) => {
      const runner = runnerFor(options, io);
      const pulled = await pullImage(runner.docker, image, {
        policy: options.policy,
        retries: options.retries,
        signal: io.signal,
        onProgress: printProgress(io),
      });
      io.stdout.write(`${pulled.image} ${pulled.id}${pulled.pulled ? '' : ' (already present)'}\n`);
      exit(ExitCode.ok);
    });

  container
    .command('build')
    .summary('build an image tagged REPO:VERSION and REPO:<date>, never latest')
    .description(
      'Builds an image from a context folder (.dockerignore honoured), tagged REPO:VERSION and REPO:<date>.',
    )
    .argument('<context>', 'the build context folder')
    .requiredOption('--repository <repo>', 'the image repository')
    .requiredOption('--version <version>', 'the version tag')
    .option('-f, --dockerfile <file>', 'the Dockerfile, relative to the context')
    .option('--build-arg <KEY=VALUE>', 'a build argument (repeatable)', collectPair)
    .addOption(projectOption())
    .addHelpText('after', RULES)
    .action(async (context, options) => {
      const runner = runnerFor(options, io);
      const keys = labelKeys(runner.ownership.namespace);
      const built = await buildImage(runner.docker, {
        context: resolve(io.cwd, context),
        repository: options.repository,
        version: options.version,
        buildArgs: options.buildArg ?? {},
        labels: {
          [keys.managed]: 'true',
          [keys.project]: runner.ownership.project,
          [keys.owner]: runner.ownership.owner,
        },
        signal: io.signal,
        onProgress: printProgress(io),
        ...(options.dockerfile === undefined ? {} : { dockerfile: options.dockerfile }),
      });
      io.stdout.write(`${built.id} ${built.tags.join(' ')}\n`);
      exit(ExitCode.ok);
    });

  container
    .command('load')
    .summary('load images from a docker save tar')
    .argument('<file>', 'the tar file')
    .addOption(projectOption())
    .action(async (file, options) => {
      const loaded = await loadImage(runnerFor(options, io).docker, resolve(io.cwd, file), {
        signal: io.signal,
      });
      io.stdout.write(`${loaded.images.join('\n')}\n`);
      exit(ExitCode.ok);
    });

  container
    .command('janitor')
    .summary("remove your leftover containers of the project (never anyone else's)")
    .addOption(projectOption())
    .action(async (options) => {
      const report = await runnerFor(options, io).janitor();
      for (const entry of [...report.removed, ...report.kept, ...report.reported, ...report.failed]) {
        io.stdout.write(`${entry.action}\t${entry.name}\t${entry.state}\t${entry.why}\n`);
      }
      io.stdout.write(
        `removed ${report.removed.length}, kept ${report.kept.length}, reported ${report.reported.length}, failed ${report.failed.length}\n`,
      );
      exit(report.failed.length > 0 ? ExitCode.failed : ExitCode.ok);
    });
};

/** Progress lines worth printing (layer byte counters would flood a log). */
function printProgress(io: CliIO): (message: ProgressMessage) => void {
  return (message) => {
    if (message.progressDetail?.current !== undefined) return;
    const text = (
      message.stream ??
      (message.status === undefined ? '' : `${message.id ? `${message.id}: ` : ''}${message.status}\n`)
    ).replace(/\n+$/, '');
    if (text !== '') io.stderr.write(`${text}\n`);
  };
}
