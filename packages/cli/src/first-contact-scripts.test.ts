import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The demo and the test script must not open with a tool's notice (turbo's telemetry announcement): each
// tool they start gets the variables that silence it. The scripts run for real, in a copy of the
// repository's layout, with npm, npx and node replaced by recorders, so nothing is installed or built.

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const SCRIPTS = ['demo.sh', 'test-all.sh', 'install-deps.sh', 'quiet-tools.sh'];

/** A command that records its name, arguments and the telemetry variables it was started with. */
const RECORDER = `#!/bin/sh
echo "$(basename "$0") $* | TURBO_TELEMETRY_DISABLED=\${TURBO_TELEMETRY_DISABLED:-unset} DO_NOT_TRACK=\${DO_NOT_TRACK:-unset}" >> "$TOOL_LOG"
`;

describe('the scripts of the README', () => {
  let repo: string;
  let fakeBin: string;
  let log: string;

  beforeAll(async () => {
    repo = await mkdtemp(join(tmpdir(), 'beamline-scripts-'));
    fakeBin = join(repo, 'fake-bin');
    log = join(repo, 'tools.log');
    await mkdir(join(repo, 'scripts'));
    for (const script of SCRIPTS)
      await copyFile(join(ROOT, 'scripts', script), join(repo, 'scripts', script));
    await mkdir(join(repo, 'examples', 'train-eval'), { recursive: true });
    await mkdir(join(repo, 'packages', 'a'), { recursive: true });
    await writeFile(join(repo, 'packages', 'a', 'vitest.config.ts'), '');
    await writeFile(join(repo, 'package-lock.json'), '{}');
    await mkdir(fakeBin);
    for (const tool of ['npm', 'npx', 'node']) {
      await writeFile(join(fakeBin, tool), RECORDER);
      await chmod(join(fakeBin, tool), 0o755);
    }
    // Not root: test-all.sh then leaves the machine's services alone.
    await writeFile(join(fakeBin, 'id'), '#!/bin/sh\necho 1000\n');
    await chmod(join(fakeBin, 'id'), 0o755);
  });

  afterAll(async () => {
    await rm(repo, { recursive: true, force: true });
  });

  /** Runs a copied script without the telemetry variables of the environment the tests run in. */
  async function runScript(script: string): Promise<string[]> {
    await writeFile(log, '');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: `${fakeBin}:${process.env.PATH ?? ''}`,
      TOOL_LOG: log,
    };
    delete env.TURBO_TELEMETRY_DISABLED;
    delete env.DO_NOT_TRACK;
    await run('bash', [join(repo, 'scripts', script)], { cwd: repo, env }).catch(() => undefined);
    return (await readFile(log, 'utf8')).trimEnd().split('\n');
  }

  it.each(['demo.sh', 'test-all.sh'])('%s starts every tool with turbo telemetry off', async (script) => {
    const calls = await runScript(script);
    expect(calls.some((call) => call.startsWith('npx turbo run'))).toBe(true);
    for (const call of calls) {
      expect(call).toMatch(/\| TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1$/);
    }
  });

  it('the demo installs, builds and runs the example', async () => {
    const calls = await runScript('demo.sh');
    expect(calls.map((call) => call.split(' ', 2).join(' '))).toEqual([
      'npm install',
      'npm rebuild',
      'npx turbo',
      'node demo.mjs',
    ]);
  });

  it("the root package.json's turbo scripts turn telemetry off too", async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const turboScripts = Object.values(pkg.scripts).filter((script) => /\bturbo\b/.test(script));
    expect(turboScripts.length).toBeGreaterThan(0);
    for (const script of turboScripts) expect(script).toMatch(/^TURBO_TELEMETRY_DISABLED=1 turbo /);
  });
});
