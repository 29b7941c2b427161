import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadPipelineFile, parseParamAssignments } from '@beamline/core';
import { ExitCode, type CliCommand } from '../cli-command.js';
import { CliError } from '../cli-error.js';
import { using, type CliServices } from '../cli-services.js';
import { parseCommandArgs } from '../args/parse-command-args.js';
import { followRun } from './follow-run.js';
import { tuneMemoryForPlan } from '../large-plan-memory.js';

const USAGE = `Usage: beamline run <file> [--param name=value]... [--json] [--no-cache]

Runs a pipeline file (YAML or JSON) in the current directory and shows its progress.

Options:
  -p, --param name=value  Set a pipeline parameter (repeatable); values are read as the
                          parameter's declared type (numbers, booleans, JSON lists).
      --json              One JSON object per event per line on stdout, nothing else.
      --no-cache          Run every step even when a cached result exists.
  -h, --help              Show this help.

State is kept in ./.beamline/. Exit codes: 0 succeeded, 1 failed or cancelled, 2 bad input.`;

const OPTIONS = {
  param: { type: 'string', short: 'p', multiple: true },
  json: { type: 'boolean' },
  'no-cache': { type: 'boolean' },
} as const;

/** `beamline run <file>`: validates, plans and runs a pipeline file. */
export function createRunCommand(services: CliServices): CliCommand {
  return {
    name: 'run',
    summary: 'Run a pipeline file',
    usage: USAGE,
    async run(args, io) {
      const { values, positionals, help } = parseCommandArgs('run', args, OPTIONS, { names: ['file'] });
      if (help) {
        io.stdout.write(`${USAGE}\n`);
        return ExitCode.ok;
      }
      const file = positionals[0] ?? '';
      const path = resolve(io.cwd, file);
      if (!existsSync(path) || !statSync(path).isFile()) {
        throw new CliError('CLI_NOT_FOUND', `beamline run: no such pipeline file: ${file}`);
      }
      const definition = await loadPipelineFile(path);
      const params = parseParamAssignments(values.param ?? [], definition);
      tuneMemoryForPlan(definition);
      return using(services.openRuntime(io), async (runtime) => {
        const handle = await runtime.run(definition, {
          params,
          source: path,
          ...(values['no-cache'] === true ? { noCache: true } : {}),
        });
        return followRun(handle, runtime.store, io, { json: values.json === true });
      });
    },
  };
}
