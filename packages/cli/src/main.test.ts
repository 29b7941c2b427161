import { describe, expect, it } from 'vitest';
import type { CliCommand } from './cli-command.js';
import { ExitCode } from './cli-io.js';
import type { CliServices } from './cli-services.js';
import { main } from './main.js';
import { createFakeIO } from './testing/fake-io.js';
import { runCli } from './testing/run-cli.js';
import { cliVersion } from './version.js';

/** Services that fail the test when a command gets as far as opening the runtime or store. */
const noServices: CliServices = {
  openRuntime: () => Promise.reject(new Error('runtime must not be opened')),
  openStore: () => Promise.reject(new Error('store must not be opened')),
  hasStore: () => false,
};

function cli(argv: string[]): ReturnType<typeof runCli> {
  return runCli(argv, { io: createFakeIO({ cwd: '/nonexistent-beamline-test-dir' }), services: noServices });
}

const SUBCOMMANDS = ['run', 'resume', 'runs', 'show', 'logs', 'explain', 'cancel', 'gc', 'container', 'grid'];

describe('main', () => {
  it('lists every subcommand in the generated help, and prints the version', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(ExitCode.ok);
    expect(help.stdout).toMatch(/^Usage: beamline \[options\] \[command\]/);
    for (const name of SUBCOMMANDS) expect(help.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    expect(help.stdout).toContain('Exit codes: 0 success, 1 failed or cancelled run, 2 bad input.');
    expect(await cli(['--version'])).toMatchObject({ code: 0, stdout: `${cliVersion()}\n` });
    expect(await cli(['-v'])).toMatchObject({ code: 0, stdout: `${cliVersion()}\n` });
  });

  it.each([
    [['run', '--help'], 'Usage: beamline run [options] <file>'],
    [['help', 'logs'], 'Usage: beamline logs [options] <run-id> [step]'],
    [['container', 'run', '--help'], 'Usage: beamline container run [options] <image> [command...]'],
    [['help', 'container'], 'Usage: beamline container [options] [command]'],
    [['grid', 'download', '-h'], 'Usage: beamline grid download [options] <list>'],
  ])('%j prints the generated help of that command on stdout, exit 0', async (argv, usage) => {
    const result = await cli(argv);
    expect(result).toMatchObject({ code: ExitCode.ok, stderr: '' });
    expect(result.stdout.startsWith(usage)).toBe(true);
  });

  it('prints the help to stderr and exits 2 without a command, also for a group', async () => {
    for (const argv of [[], ['container'], ['grid']]) {
      const result = await cli(argv);
      expect(result.code).toBe(ExitCode.badInput);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/^Usage: beamline/);
    }
  });

  it.each([
    [['frobnicate'], "beamline: unknown command 'frobnicate'"],
    [['--frobnicate'], "beamline: unknown option '--frobnicate'"],
    [['run'], "beamline run: missing required argument 'file'"],
    [['run', 'a.yaml', '--bogus'], "beamline run: unknown option '--bogus'"],
    [['run', 'a.yaml', 'b.yaml'], "beamline run: too many arguments for 'run'"],
    [['run', 'missing.yaml'], 'beamline run: no such pipeline file: missing.yaml'],
    [['run', 'a.yaml', '--param'], "beamline run: option '-p, --param <name=value>' argument missing"],
    [['show'], "beamline show: missing required argument 'run-id'"],
    [['explain', 'r1'], "beamline explain: missing required argument 'step'"],
    [['logs', 'r1', 'step', 'extra'], "beamline logs: too many arguments for 'logs'"],
    [
      ['runs', '--limit', 'zero'],
      "option '-n, --limit <n>' argument 'zero' is invalid. expected a positive whole number",
    ],
    [['runs', '-n', '0'], 'expected a positive whole number'],
    [['container', 'frobnicate'], "beamline container: unknown command 'frobnicate'"],
    [
      ['grid', 'download', 'list.txt'],
      "beamline grid download: required option '--dest <dir>' not specified",
    ],
    [['cancel', 'r1'], 'beamline cancel: No Beamline runs in /nonexistent-beamline-test-dir'],
    [['show', 'r1'], 'No Beamline runs in /nonexistent-beamline-test-dir'],
    [['logs', 'r1'], 'No Beamline runs in /nonexistent-beamline-test-dir'],
    [['explain', 'r1', 's'], 'No Beamline runs in /nonexistent-beamline-test-dir'],
    [['resume', 'r1'], 'No Beamline runs in /nonexistent-beamline-test-dir'],
  ])('%j exits 2 with a clear message on stderr', async (argv, message) => {
    const result = await cli(argv);
    expect(result.code).toBe(ExitCode.badInput);
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe('');
  });

  it('says how to get the help of the command a usage error is about', async () => {
    expect((await cli(['run', 'a.yaml', '--bogus'])).stderr).toContain(
      "(run 'beamline run --help' for usage)",
    );
    expect((await cli(['container', 'run'])).stderr).toContain(
      "(run 'beamline container run --help' for usage)",
    );
  });

  it('suggests the closest command or option for a typo', async () => {
    expect((await cli(['rnu'])).stderr).toContain('Did you mean run?');
    expect((await cli(['run', 'a.yaml', '--jsno'])).stderr).toContain('Did you mean --json?');
  });

  it('lists no runs in a directory without a store, without creating one', async () => {
    expect(await cli(['runs'])).toMatchObject({
      code: 0,
      stdout: 'No runs in /nonexistent-beamline-test-dir yet.\n',
    });
    expect(await cli(['runs', '--json'])).toMatchObject({ code: 0, stdout: '' });
  });

  it('maps errors thrown by an action to exit codes, naming the command', async () => {
    const throwing =
      (error: Error): CliCommand =>
      (program) => {
        program.command('x').action(() => Promise.reject(error));
      };
    const io = createFakeIO();
    const invalid = Object.assign(new Error('pipeline.yaml: steps.train.uses: expected a string'), {
      code: 'CORE_PIPELINE_INVALID',
      retryable: false,
    });
    expect(await main(['x'], io, { commands: [throwing(invalid)] })).toBe(ExitCode.badInput);
    expect(io.stderr.text).toContain(
      'beamline x: pipeline.yaml: steps.train.uses: expected a string (CORE_PIPELINE_INVALID)',
    );
    expect(await main(['x'], io, { commands: [throwing(new Error('disk full'))] })).toBe(ExitCode.failed);
    expect(io.stderr.text).toContain('beamline x: disk full');
  });

  it('returns the exit code the action reports', async () => {
    const failing: CliCommand = (program, { exit }) => {
      program.command('x').action(() => exit(ExitCode.failed));
    };
    expect(await main(['x'], createFakeIO(), { commands: [failing] })).toBe(ExitCode.failed);
  });
});
