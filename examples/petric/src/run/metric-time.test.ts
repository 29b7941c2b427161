import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { readEventsStrict } from '../../test/support/independent-reader.js';
import { runChallenge, submit } from '../challenge.js';
import { makePhantom, writePhantomDataset } from '../data/phantom.js';

/**
 * A local submission that never converges: each iteration it reports its starting image, 50 ms apart;
 * where the runner prepared `slow_<k>.hv` it reports that instead. Its data file is a FIFO the test
 * feeds only 1.5 s after the runner opened it, so computing those metrics takes at least 1.5 s.
 */
const SCRIPT = `#!/bin/sh
k=0
while :; do
  if [ -e "$PETRIC_OUTDIR/slow_$k.hv" ]; then
    echo "::image $k slow_$k.hv"
  else
    cp "$PETRIC_SRCDIR/OSEM_image.hv" "$PETRIC_OUTDIR/iter_$k.hv"
    sed -i "s/OSEM_image.v/iter_$k.v/" "$PETRIC_OUTDIR/iter_$k.hv"
    cp "$PETRIC_SRCDIR/OSEM_image.v" "$PETRIC_OUTDIR/iter_$k.v"
    echo "::image $k iter_$k.hv"
  fi
  sleep 0.05
  k=$((k+1))
done
`;

describe('metric time is excluded from the budget', () => {
  const root = mkdtempSync(join(tmpdir(), 'petric-metric-time-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('a submission whose metrics are slow to compute gets its whole budget, and is frozen meanwhile', async () => {
    const phantom = makePhantom({ dims: [12, 12, 4] });
    await writePhantomDataset(join(root, 'data', 'ds'), phantom);
    const script = join(root, 'run.sh');
    writeFileSync(script, SCRIPT);
    chmodSync(script, 0o755);
    await submit(root, { team: 'slowmetrics', version: 'v1', command: [script] });

    const out = join(root, 'logs', 'slowmetrics', 'v1', 'ds');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(root, 'image.v'), Buffer.from(phantom.initial.buffer));
    const feeders = [3, 6].map((k) => {
      const header = `!INTERFILE :=\nname of data file := slow_${k}.v\n!number format := float\n!number of bytes per pixel := 4\nnumber of dimensions := 3\n!matrix size [1] := 12\n!matrix size [2] := 12\n!matrix size [3] := 4\n!END OF INTERFILE :=\n`;
      writeFileSync(join(out, `slow_${k}.hv`), header);
      execFileSync('mkfifo', [join(out, `slow_${k}.v`)]);
      // Opening the FIFO to write returns once the runner opens it to read; the data follows 1.5 s later.
      const feeder = spawn('sh', [
        '-c',
        'exec 3>"$1"; sleep 1.5; cat "$2" >&3',
        'feeder',
        join(out, `slow_${k}.v`),
        join(root, 'image.v'),
      ]);
      return feeder;
    });
    const fed = Promise.all(feeders.map((f) => new Promise((resolve) => f.once('exit', resolve))));
    onTestFinished(() => feeders.forEach((f) => f.exitCode === null && f.kill('SIGKILL')));

    const started = Date.now();
    const { runs } = await runChallenge(root, {
      budgetSeconds: 2,
      hardLimitSeconds: 60,
      gpus: [],
      docker: null,
    });
    const elapsed = (Date.now() - started) / 1000;
    await fed;
    expect(runs[0]!.steps['slowmetrics-v1-ds']).toMatchObject({
      status: 'succeeded',
      outputs: { outcome: 'budget' },
    });

    const file = readdirSync(out).find((n) => n.startsWith('events.out'))!;
    const events = readEventsStrict(join(out, file)).slice(1);
    const resets = events.filter((e) => e.summary?.value?.[0]?.tag === 'reset');
    const used = resets.at(-1)!.wallTime! - resets[0]!.wallTime!;
    // The budget clock ran for the budget, while the wall clock also ran through 3 s of metrics.
    expect(used).toBeGreaterThanOrEqual(2);
    expect(used).toBeLessThan(3);
    expect(elapsed).toBeGreaterThan(used + 2.9);
    // Around each slow evaluation the budget clock moved by about the submission's own 50 ms, not 1.5 s.
    const time = (step: number) =>
      events.find((e) => e.step === step && e.summary?.value?.[0]?.tag === 'RMSE_whole_object')!.wallTime!;
    expect(time(4) - time(3)).toBeLessThan(0.75);
    expect(time(7) - time(6)).toBeLessThan(0.75);
    // Frozen meanwhile: the image after a slow evaluation was written only once it was done.
    const written = (name: string) => statSync(join(out, name)).mtimeMs / 1000;
    expect(written('iter_4.v') - written('iter_2.v')).toBeGreaterThan(1.4);
    expect(written('iter_7.v') - written('iter_5.v')).toBeGreaterThan(1.4);
  }, 60_000);
});
