import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/peers/folders.js';
import { clientTargets, startTarget, targetAvailable, type Target } from '../support/peers/target.js';
import { clientLayout, WRITER, type ClientLayout } from './harness/layout.js';
import { MINIREDIR_CONTENT, replayMiniRedir } from './harness/miniredir.js';

const targets = clientTargets().filter(targetAvailable);
// Windows sends Basic only over TLS or with BasicAuthLevel 2; over plain HTTP it uses Digest.
const cases = targets.flatMap((kind) => (['basic', 'digest'] as const).map((auth) => ({ kind, auth })));

describe.skipIf(cases.length === 0).each(cases)(
  'a replayed Windows MiniRedir session against $kind ($auth)',
  ({ kind, auth }) => {
    let root: string;
    let layout: ClientLayout;
    let target: Target;

    beforeAll(async () => {
      root = tempDir(`miniredir-${kind}-${auth}`);
      layout = clientLayout(join(root, 'share'));
      target = await startTarget(kind, layout.spec, join(root, 'server'), { auth });
    });
    afterAll(async () => {
      await target?.stop();
      rmSync(root, { recursive: true, force: true });
    });

    it('maps the drive, creates a folder, writes a file under a lock with Win32 properties, unlocks with a bare token, renames', async () => {
      const steps = await replayMiniRedir({
        url: target.url,
        mount: '/dav',
        user: WRITER.name,
        password: WRITER.password,
        target: kind,
        auth,
      });
      const bad = steps.filter((s) => !s.ok).map((s) => `${s.request} (${s.name}): ${s.problems.join('; ')}`);
      expect(bad).toEqual([]);
      expect(steps.length).toBeGreaterThanOrEqual(21);
      expect(readFileSync(join(layout.folders.dav, 'win #1', 'Report 2026 — final ✓.txt'), 'utf8')).toBe(
        MINIREDIR_CONTENT,
      );
      expect(await target.answers()).toBe(true);
    });
  },
);
