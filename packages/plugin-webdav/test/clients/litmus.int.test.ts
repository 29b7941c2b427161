import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { requireService } from '@beamline/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/peers/folders.js';
import { clientTargets, startTarget, targetAvailable, type Target } from '../support/peers/target.js';
import { hasBinary, INSTALL_HINT } from '../support/peers/tools.js';
import { clientLayout, WRITER, type ClientLayout } from './harness/layout.js';
import { LITMUS_SUITES, litmusProblems, runLitmusSuite, type LitmusSuite } from './harness/litmus.js';

const hasLitmus = requireService('litmus', hasBinary('litmus'), INSTALL_HINT);
const targets = hasLitmus ? clientTargets().filter(targetAvailable) : [];
const suites = Object.keys(LITMUS_SUITES) as LitmusSuite[];

describe.skipIf(targets.length === 0).each(targets)('litmus 0.13 against %s', (kind) => {
  let root: string;
  let layout: ClientLayout;
  let target: Target;
  let pidAtStart: number | undefined;

  beforeAll(async () => {
    root = tempDir(`litmus-${kind}`);
    layout = clientLayout(join(root, 'share'));
    target = await startTarget(kind, layout.spec, join(root, 'server'));
    pidAtStart = target.pid;
  });
  afterAll(async () => {
    await target?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  // One suite per litmus run, so a crash in one cannot hide behind another; the server must answer
  // (and be the same process) after each.
  for (const suite of suites) {
    it(`${suite}: ${LITMUS_SUITES[suite]}/${LITMUS_SUITES[suite]} pass with credentials, server alive after`, async () => {
      const run = await runLitmusSuite(suite, {
        url: `${target.url}/dav/`,
        user: WRITER.name,
        password: WRITER.password,
        timeoutMs: 150_000,
      });
      const problems = litmusProblems(run, LITMUS_SUITES[suite]);
      expect(
        problems,
        `${problems.join('\n')}\n--- litmus output:\n${run.output}\n--- debug.log tail:\n${run.debugTail ?? ''}`,
      ).toEqual([]);
      expect(run.tests.filter((t) => t.result === 'pass')).toHaveLength(LITMUS_SUITES[suite]);
      expect(await target.answers(), 'the server stopped answering').toBe(true);
      expect(target.pid).toBe(pidAtStart);
    }, 180_000);
  }

  it('without credentials against /data (anonymous read-only): every write is refused, nothing written', async () => {
    const before = readdirSync(layout.folders.data);
    for (const suite of suites) {
      const run = await runLitmusSuite(suite, { url: `${target.url}/data/`, timeoutMs: 60_000 });
      // litmus starts every suite by creating its collection (MKCOL /data/litmus/): refused, so the
      // suite cannot begin and nothing after it runs.
      const begin = run.tests.find((t) => t.name === 'begin');
      expect(begin?.result, `${suite}: ${run.output}`).toBe('fail');
      expect(begin?.message ?? '', `${suite}: ${run.output}`).toMatch(/401|Unauthorized|authenticat/i);
      const writesPassed = run.tests.filter(
        (t) => t.result === 'pass' && !['init', 'finish'].includes(t.name),
      );
      expect(
        writesPassed.map((t) => t.name),
        `${suite}: ${run.output}`,
      ).toEqual([]);
    }
    expect(readdirSync(layout.folders.data)).toEqual(before);
    expect(await target.answers()).toBe(true);
  }, 360_000);
});
