import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadPipelineFile, parseParamAssignments } from '@beamline/core';
import type { CliCommand } from '../cli-command.js';
import { CliError } from '../cli-error.js';
import { artifactShare, queueUrl, using } from '../cli-services.js';
import { collect } from '../args/option-parsers.js';
import { followRun } from './follow-run.js';

/** `beamline run <file>`: validates, plans and runs a pipeline file. */
export const runCommand: CliCommand = (program, { io, services, exit }) => {
  program
    .command('run')
    .summary('run a pipeline file')
    .description('Runs a pipeline file (YAML or JSON) in the current directory and shows its progress.')
    .argument('<file>', 'the pipeline file')
    .option(
      '-p, --param <name=value>',
      "set a pipeline parameter (repeatable); the value is read as the parameter's declared type (number, boolean, JSON list)",
      collect,
    )
    .option('--json', 'one JSON object per event per line on stdout, nothing else')
    .option('--no-cache', 'run every step even when a cached result exists')
    .option(
      '--queue <url>',
      'distributed mode: keep the run in PostgreSQL (postgres://…) and hand every step to the workers of its queue (beamline worker); default $BEAMLINE_QUEUE',
    )
    .option(
      '--artifact-share <url>',
      "distributed mode: the artifact share (https://host/dav/beamline/) through which workers without the run's folder get inputs and return outputs; default $BEAMLINE_ARTIFACT_SHARE",
    )
    .option(
      '--artifact-token-file <file>',
      'a file holding the bearer token of --artifact-share; default $BEAMLINE_ARTIFACT_TOKEN_FILE',
    )
    .addHelpText(
      'after',
      '\nState is kept in ./.beamline/.\nExit codes: 0 succeeded, 1 failed or cancelled, 2 bad input.',
    )
    .action(async (file, options) => {
      const path = resolve(io.cwd, file);
      if (!existsSync(path) || !statSync(path).isFile()) {
        throw new CliError('CLI_NOT_FOUND', `no such pipeline file: ${file}`);
      }
      const definition = await loadPipelineFile(path);
      const params = parseParamAssignments(options.param ?? [], definition);
      const artifacts = artifactShare(io, options);
      if (artifacts !== undefined && queueUrl(io, options.queue) === undefined) {
        throw new CliError(
          'CLI_USAGE',
          '--artifact-share goes with --queue postgres://… (or BEAMLINE_QUEUE).',
        );
      }
      exit(
        await using(
          services.openRuntime(io, {
            ...(options.queue === undefined ? {} : { queue: options.queue }),
            ...(artifacts === undefined ? {} : { artifacts }),
          }),
          async (runtime) => {
            const handle = await runtime.run(definition, {
              params,
              source: path,
              ...(options.cache ? {} : { noCache: true }),
            });
            return followRun(handle, runtime.store, io, { json: options.json === true });
          },
        ),
      );
    });
};
