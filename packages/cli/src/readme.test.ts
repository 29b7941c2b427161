import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { createFakeIO } from './testing/fake-io.js';
import { runCli } from './testing/run-cli.js';

// The generated help is the source of truth for the program's commands; the README shows it verbatim.

const README = new URL('../../../README.md', import.meta.url);

/** The first ```text block of the README's "The `beamline` program" section. */
async function readmeHelp(): Promise<string> {
  const readme = await readFile(README, 'utf8');
  const section = readme.slice(readme.indexOf('## The `beamline` program'));
  const block = /```text\n([\s\S]*?)```/.exec(section);
  if (!block?.[1]) throw new Error("README.md: no ```text block in the section 'The `beamline` program'");
  return block[1];
}

describe('README', () => {
  it("shows exactly what 'beamline --help' prints (in a pipe, 80 columns)", async () => {
    const { code, stdout } = await runCli(['--help'], { io: createFakeIO() });
    expect(code).toBe(0);
    expect(await readmeHelp()).toBe(stdout);
  });
});
