import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const here = fileURLToPath(new URL('..', import.meta.url));

describe('npm start (the demo), without containers', () => {
  const root = mkdtempSync(join(tmpdir(), 'petric-demo-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('generates the datasets, runs the fast and the slow submission and ranks them', () => {
    if (!existsSync(join(here, 'dist', 'index.js')))
      execFileSync('npm', ['run', 'build'], { cwd: here, stdio: 'ignore' });
    const out = execFileSync(process.execPath, ['demo.mjs', '--no-serve'], {
      cwd: here,
      encoding: 'utf8',
      env: { ...process.env, PETRIC_ROOT: root, PETRIC_DEMO_DOCKER: '0', PETRIC_DEMO_BUDGET: '20' },
      timeout: 240_000,
    });
    expect(out).toContain('as local processes');
    for (const id of ['fast-v1-nema', 'fast-v1-hoffman'])
      expect(out).toContain(`${id}: succeeded (converged`);
    const md = readFileSync(join(root, 'leaderboard', 'leaderboard.md'), 'utf8');
    expect(md).toContain('## Leaderboard\n![](ranks.svg)\n1) fast/v1\n2) slow/v1\n');
  }, 300_000);
});
