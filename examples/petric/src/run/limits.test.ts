import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '@beamline/core';
import { afterAll, describe, expect, it } from 'vitest';
import { runChallenge, submit } from '../challenge.js';
import { makePhantom, writePhantomDataset } from '../data/phantom.js';

async function localSubmission(root: string, team: string, script: string): Promise<void> {
  const path = join(root, `${team}.sh`);
  writeFileSync(path, `#!/bin/sh\n${script}`);
  chmodSync(path, 0o755);
  await submit(root, { team, version: 'v1', command: [path] });
}

async function systemLog(root: string, runId: string, stepId: string): Promise<string> {
  const store = SqliteStore.open({ cwd: root });
  let text = '';
  for await (const e of store.readEvents(runId))
    if (e.type === 'log' && e.stepId === stepId && e.stream === 'system') text += e.text;
  await store.close();
  return text;
}

describe('limits and hostile submissions (local processes)', () => {
  const root = mkdtempSync(join(tmpdir(), 'petric-limits-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('stops a submission at the hard limit from outside, and fails its step with PETRIC_HARD_LIMIT', async () => {
    await writePhantomDataset(join(root, 'data', 'ds'), makePhantom({ dims: [12, 12, 2] }));
    await localSubmission(root, 'sleeper', 'trap "" TERM\nsleep 30\n'); // ignores SIGTERM: killed after the grace
    const started = Date.now();
    const { runs } = await runChallenge(root, {
      budgetSeconds: 100,
      hardLimitSeconds: 1,
      gpus: [],
      docker: null,
      teams: ['sleeper'],
    });
    const step = runs[0]!.steps['sleeper-v1-ds']!;
    expect(step).toMatchObject({ status: 'failed', error: { code: 'PETRIC_HARD_LIMIT' } });
    expect(step.error!.message).toContain('stopped at the hard limit of 1 s');
    expect(Date.now() - started).toBeLessThan(25_000);
  }, 60_000);

  it('never reads outside the output folder, and a flood of bad image lines gets a bounded log', async () => {
    await localSubmission(
      root,
      'hostile',
      [
        'printf "!INTERFILE :=\\nname of data file := /etc/passwd\\nnumber of dimensions := 1\\n!matrix size [1] := 4\\n" > "$PETRIC_OUTDIR/evil.hv"',
        'ln -s /etc/hostname "$PETRIC_OUTDIR/link.hv"',
        'echo "::image 0 ../../../../../../etc/passwd"',
        'echo "::image 1 evil.hv"',
        'echo "::image 2 link.hv"',
        'k=3; while [ $k -lt 60 ]; do echo "::image $k missing_$k.hv"; k=$((k+1)); done',
        'sleep 30',
        '',
      ].join('\n'),
    );
    const { runs } = await runChallenge(root, {
      budgetSeconds: 2,
      hardLimitSeconds: 60,
      gpus: [],
      docker: null,
      teams: ['hostile'],
    });
    const result = runs[0]!;
    expect(result.steps['hostile-v1-ds']).toMatchObject({
      status: 'succeeded',
      outputs: { outcome: 'budget', evaluations: 0, lastIteration: 59 },
    });
    const log = await systemLog(root, result.runId, 'hostile-v1-ds');
    expect(log).toMatch(
      /iteration 0: image "..\/..\/..\/..\/..\/..\/etc\/passwd" not evaluated: .*resolves outside/,
    );
    expect(log).toMatch(/iteration 1: image "evil.hv" not evaluated: \/etc\/passwd resolves outside/);
    expect(log).toMatch(/iteration 2: image "link.hv" not evaluated: .*resolves outside/);
    expect(log.match(/not evaluated/g)).toHaveLength(20);
    expect(log).toContain('(further unreadable images are not logged)');
  }, 60_000);
});
