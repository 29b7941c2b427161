import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { writeSubmission } from '../test/support/submissions.js';
import { main } from './cli.js';
import { makePhantom, writePhantomDataset } from './data/phantom.js';

function capture() {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}

async function petric(...args: string[]) {
  const out = capture();
  const err = capture();
  const code = await main(args, out.stream, err.stream);
  return { code, out: out.text(), err: err.text() };
}

describe('the petric program', () => {
  const root = mkdtempSync(join(tmpdir(), 'petric-cli-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('prints its usage and refuses unknown commands and bad input, naming the problem', async () => {
    expect((await petric('--help')).out).toContain('Usage: petric <command>');
    expect(await petric('frobnicate')).toMatchObject({
      code: 2,
      err: expect.stringContaining('unknown command "frobnicate"') as unknown,
    });
    expect((await petric('submit', '--root', root, '--team', '../x', '--version', 'v1')).err).toMatch(
      /PETRIC_SUBMISSION_INVALID: team "..\/x" is not a valid name/,
    );
    expect((await petric('submit', '--root', root, '--team', 't', '--version', 'v1')).err).toMatch(
      /needs --command with an absolute program path/,
    );
    expect(
      (await petric('submit', '--root', root, '--team', 't', '--version', 'v1', '--', '/nonexistent/run'))
        .err,
    ).toMatch(/\/nonexistent\/run is not an executable file/);
    expect((await petric('run', '--root', root, '--budget', '600')).err).toMatch(
      /--budget must be a duration with a unit/,
    );
  });

  it('runs a local submission (no container) under the budget rules, with metrics and early stop', async () => {
    const phantom = makePhantom({ dims: [10, 10, 3] });
    await writePhantomDataset(join(root, 'data', 'mini'), phantom);
    const ctx = join(root, 'sub');
    await writeSubmission(ctx, {
      mini: { phantom, fractions: Array.from({ length: 30 }, (_, k) => Math.min(1, k / 3)) },
    });
    const queued = await petric(
      'submit',
      '--root',
      root,
      '--team',
      'local',
      '--version',
      'v1',
      '--',
      join(ctx, 'run'),
      '0.02',
    );
    expect(queued).toMatchObject({ code: 0, out: `queued local/v1 (${join(ctx, 'run')} 0.02)\n` });

    const run = await petric('run', '--root', root, '--budget', '20s', '--gpus', '');
    expect(run.err).toBe('');
    expect(run.out).toContain('local-v1-mini: succeeded (converged)');
    expect(run.code).toBe(0);
    const md = readFileSync(join(root, 'leaderboard', 'leaderboard.md'), 'utf8');
    expect(md).toMatch(/^1\|local\/v1\|00:0\d\|--:--\|-0.01$/m);
    expect(
      readdirSync(join(root, 'logs', 'local', 'v1', 'mini')).filter((n) => n.startsWith('events.out')),
    ).toHaveLength(1);

    const again = await petric('run', '--root', root, '--budget', '20s', '--gpus', '');
    expect(again.out).toContain('local-v1-mini: cached');
    expect((await petric('rank', '--root', root)).out).toBe('1) local/v1\n');

    // New data: the one command runs the submission again; the earlier log is moved aside, not mixed in.
    writeFileSync(join(root, 'data', 'mini', 'penalisation_factor.txt'), '0.002\n');
    const rerun = await petric('run', '--root', root, '--budget', '20s', '--gpus', '');
    expect(rerun.out).toContain('local-v1-mini: succeeded (converged)');
    expect(
      readdirSync(join(root, 'logs', 'local', 'v1', 'mini')).filter((n) => n.startsWith('events.out')),
    ).toHaveLength(1);
    expect(
      readdirSync(join(root, 'superseded', 'local', 'v1', 'mini'), { recursive: true }).filter((n) =>
        String(n).includes('events.out'),
      ),
    ).toHaveLength(1);
  }, 60_000);
});
