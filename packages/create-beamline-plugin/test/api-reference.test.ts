import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

// The repository's check of the API reference lives with the plugin-author tooling: TypeDoc over every
// published package's entry points fails on an undocumented export or a broken link (scripts/api-docs.mjs).
const repo = fileURLToPath(new URL('../../..', import.meta.url));

it('builds the API reference of every published package: no undocumented export, no broken link', async () => {
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [join(repo, 'scripts/api-docs.mjs'), '--check'], {
      cwd: repo,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.on('error', reject);
    child.on('close', (exit) => resolve({ code: exit, output: text }));
  });
  expect(code, output).toBe(0);
  expect(output).toContain('API reference: no problems');
  expect(output).toContain('@beamline/core/testing');
}, 300_000);
