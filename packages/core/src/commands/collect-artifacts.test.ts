import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isCoreError } from '../errors/core-error.js';
import { createRuntime } from '../runtime/create-runtime.js';
import { MemoryStore } from '../store/memory-store.js';
import { collectArtifacts } from './collect-artifacts.js';

/** A path under `dir` whose last component is `before`, the byte `byte`, then `after`: not valid UTF-8. */
function oddName(dir: string, before: string, byte: number, after: string): Buffer {
  return Buffer.concat([Buffer.from(`${dir}${path.sep}${before}`), Buffer.from([byte]), Buffer.from(after)]);
}

async function failure(
  promise: Promise<unknown>,
): Promise<Error & { details: Record<string, unknown>; retryable: boolean }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { details: Record<string, unknown>; retryable: boolean };
  }
  throw new Error('expected a failure');
}

describe('collectArtifacts and file names that are not valid UTF-8', () => {
  it('fails clearly, naming the file with its bytes escaped, and not as retryable', async () => {
    const workdir = mkdtempSync(path.join(os.tmpdir(), 'beamline-names-'));
    writeFileSync(path.join(workdir, 'good.bin'), 'good');
    writeFileSync(oddName(workdir, 'out-', 0xff, '.bin'), 'odd');
    const error = await failure(collectArtifacts(workdir, ['*.bin']));
    expect(isCoreError(error, 'CORE_OUTPUT_UNREADABLE')).toBe(true);
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('out-\\xff.bin');
    expect(error.message).toContain('not valid UTF-8');
    expect(error.details.name).toBe('out-\\xff.bin');
  });

  it('finds the odd name deeper down, and escapes control characters', async () => {
    const workdir = mkdtempSync(path.join(os.tmpdir(), 'beamline-names-'));
    mkdirSync(path.join(workdir, 'run'));
    writeFileSync(oddName(path.join(workdir, 'run'), 'metrics\u001b', 0xc3, '.json'), '{}');
    const error = await failure(collectArtifacts(workdir, { metrics: '**/*.json' }));
    expect(isCoreError(error, 'CORE_OUTPUT_UNREADABLE')).toBe(true);
    expect(error.details.name).toBe(`run${path.sep}metrics\\u001b\\xc3.json`);
  });

  it('says why nothing matched when a folder name is not valid UTF-8 (the glob cannot enter it)', async () => {
    const workdir = mkdtempSync(path.join(os.tmpdir(), 'beamline-names-'));
    const folder = oddName(workdir, 'run', 0xfe, '');
    mkdirSync(folder);
    writeFileSync(Buffer.concat([folder, Buffer.from(`${path.sep}metrics.json`)]), '{}');
    const error = await failure(collectArtifacts(workdir, { metrics: '**/metrics.json' }));
    expect(isCoreError(error, 'CORE_OUTPUT_MISSING')).toBe(true);
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('names that are not valid UTF-8 cannot be matched: run\\xfe');
  });

  it('still collects valid names, including non-ASCII ones', async () => {
    const workdir = mkdtempSync(path.join(os.tmpdir(), 'beamline-names-'));
    writeFileSync(path.join(workdir, 'résumé ü.bin'), 'ok');
    const collected = await collectArtifacts(workdir, ['*.bin']);
    expect(collected.artifacts.map((a) => a.name)).toEqual(['résumé ü.bin']);
    expect(collected.artifacts[0]?.size).toBe(2);
  });

  it('reports an unreadable file as such, not as retryable', async () => {
    if (process.getuid?.() === 0) return; // root reads everything
    const workdir = mkdtempSync(path.join(os.tmpdir(), 'beamline-names-'));
    writeFileSync(path.join(workdir, 'secret.bin'), 'x', { mode: 0o000 });
    const error = await failure(collectArtifacts(workdir, ['*.bin']));
    expect(isCoreError(error, 'CORE_OUTPUT_UNREADABLE')).toBe(true);
    expect(error.retryable).toBe(false);
  });
});

describe('an exec step whose output name is not valid UTF-8', () => {
  it('fails once, without retries, with the file named', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'beamline-names-'));
    const runtime = await createRuntime({ cwd, store: new MemoryStore() });
    try {
      const handle = await runtime.run({
        name: 'odd',
        steps: {
          make: {
            uses: 'exec',
            retry: { attempts: 3, initialDelayMs: 10 },
            with: { command: 'touch "$(printf \'out-\\377.bin\')"', outputs: ['*.bin'] },
          },
        },
      });
      const result = await handle.done;
      expect(result.status).toBe('failed');
      expect(result.steps.make).toMatchObject({
        status: 'failed',
        attempt: 1,
        error: { code: 'CORE_OUTPUT_UNREADABLE', retryable: false },
      });
      expect(result.steps.make?.error?.message).toContain('out-\\xff.bin');
    } finally {
      await runtime.close();
    }
  });
});
