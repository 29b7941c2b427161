import { describe, expect, it } from 'vitest';
import { ExitCode, type CliCommand } from './cli-command.js';
import type { CliServices } from './cli-services.js';
import { main } from './main.js';
import { createFakeIO } from './testing/fake-io.js';
import { cliVersion } from './version.js';

/** Services that fail the test when a command gets as far as opening the runtime or store. */
const noServices: CliServices = {
  openRuntime: () => Promise.reject(new Error('runtime must not be opened')),
  openStore: () => Promise.reject(new Error('store must not be opened')),
  hasStore: () => false,
};

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = createFakeIO({ cwd: '/nonexistent-beamline-test-dir' });
  const code = await main(argv, io, { services: noServices });
  return { code, stdout: io.stdout.text, stderr: io.stderr.text };
}

describe('main', () => {
  it('prints help and version', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(ExitCode.ok);
    for (const name of ['run', 'resume', 'runs', 'show', 'logs', 'explain', 'cancel']) {
      expect(help.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    }
    expect(await cli(['--version'])).toMatchObject({ code: 0, stdout: `${cliVersion()}\n` });
    expect((await cli(['run', '--help'])).stdout).toContain('Usage: beamline run <file>');
    expect((await cli(['help', 'logs'])).stdout).toContain('Usage: beamline logs <run-id>');
  });

  it('prints the usage to stderr and exits 2 without arguments', async () => {
    const result = await cli([]);
    expect(result.code).toBe(ExitCode.badInput);
    expect(result.stderr).toContain('Usage: beamline <command>');
  });

  it.each([
    [['frobnicate'], "beamline: unknown command 'frobnicate'"],
    [['--frobnicate'], "beamline: unknown option '--frobnicate'"],
    [['run'], 'beamline run: missing <file>'],
    [['run', 'a.yaml', '--bogus'], "beamline run: unknown option '--bogus'"],
    [['run', 'a.yaml', 'b.yaml'], "beamline run: unexpected argument 'b.yaml'"],
    [['run', 'missing.yaml'], 'beamline run: no such pipeline file: missing.yaml'],
    [['run', 'a.yaml', '--param'], "--param <value>' argument missing"],
    [['show'], 'beamline show: missing <run-id>'],
    [['explain', 'r1'], 'beamline explain: missing <step>'],
    [['logs', 'r1', 'step', 'extra'], "unexpected argument 'extra'"],
    [['runs', '--limit', 'zero'], '--limit expects a positive whole number'],
    [['cancel', 'r1'], 'No Beamline runs in /nonexistent-beamline-test-dir'],
    [['show', 'r1'], 'No Beamline runs in /nonexistent-beamline-test-dir'],
    [['logs', 'r1'], 'No Beamline runs in /nonexistent-beamline-test-dir'],
    [['explain', 'r1', 's'], 'No Beamline runs in /nonexistent-beamline-test-dir'],
    [['resume', 'r1'], 'No Beamline runs in /nonexistent-beamline-test-dir'],
  ])('%j exits 2 with a clear message', async (argv, message) => {
    const result = await cli(argv);
    expect(result.code).toBe(ExitCode.badInput);
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe('');
  });

  it('lists no runs in a directory without a store, without creating one', async () => {
    expect(await cli(['runs'])).toMatchObject({
      code: 0,
      stdout: 'No runs in /nonexistent-beamline-test-dir yet.\n',
    });
    expect(await cli(['runs', '--json'])).toMatchObject({ code: 0, stdout: '' });
  });

  it('maps errors thrown by a command to exit codes', async () => {
    const throwing = (error: Error): CliCommand => ({
      name: 'x',
      summary: '',
      usage: '',
      run: () => Promise.reject(error),
    });
    const io = createFakeIO();
    const invalid = Object.assign(new Error('pipeline.yaml: steps.train.uses: expected a string'), {
      code: 'CORE_PIPELINE_INVALID',
      retryable: false,
    });
    expect(await main(['x'], io, { commands: [throwing(invalid)] })).toBe(ExitCode.badInput);
    expect(io.stderr.text).toContain(
      'pipeline.yaml: steps.train.uses: expected a string (CORE_PIPELINE_INVALID)',
    );
    expect(await main(['x'], io, { commands: [throwing(new Error('disk full'))] })).toBe(ExitCode.failed);
    expect(io.stderr.text).toContain('disk full');
  });
});
