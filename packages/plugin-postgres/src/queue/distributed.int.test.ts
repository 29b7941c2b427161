import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { dropTestSchemas, postgresAvailable } from '../../test/support/database.js';
import { Tokens } from '@beamline/core';
import { TestCluster } from '../../test/support/cluster.js';

const available = await postgresAvailable();

describe.skipIf(!available)('distributed mode: worker processes share one queue', () => {
  let cluster: TestCluster;
  afterEach(async () => cluster?.close());
  afterAll(dropTestSchemas);

  it('runs N steps exactly once across several workers, with their output back in the run', async () => {
    cluster = new TestCluster();
    const runtime = await cluster.coordinator();
    await Promise.all([cluster.worker({ concurrency: 2 }), cluster.worker({ concurrency: 2 })]);
    const steps = Object.fromEntries(
      Array.from({ length: 12 }, (_, i) => [
        `s${i}`,
        {
          uses: 'exec',
          needs: [],
          with: {
            command: `echo s${i} >> executions.log; echo "hello from s${i}"; echo "::output n=${i}"; sleep 0.2`,
          },
        },
      ]),
    );
    const run = await runtime.run({ name: 'fan-out', steps });
    const result = await run.done;
    const errors = Object.values(result.steps).flatMap((step) => (step.error ? [step.error.message] : []));
    expect(result.status, errors.join('\n')).toBe('succeeded');
    expect(cluster.read('executions.log').sort()).toEqual(Object.keys(steps).sort());
    for (let i = 0; i < 12; i++) expect(result.steps[`s${i}`]?.outputs).toMatchObject({ n: i, exitCode: 0 });
    // The output came back as the step's log, and the started event names the worker's host and job.
    const store = runtime.resolve(Tokens.Store);
    const texts: string[] = [];
    for await (const event of store.readEvents(run.id, { types: ['log', 'process'] })) {
      if (event.type === 'log') texts.push(event.text);
      if (event.type === 'process') expect(typeof event.process.jobId).toBe('string');
    }
    for (let i = 0; i < 12; i++) expect(texts.join('')).toContain(`hello from s${i}\n`);
    // Both workers took part, and every job was claimed once.
    const claimed = cluster.workers.map(
      (worker) => worker.lines.filter((line) => line.includes(' claimed job ')).length,
    );
    expect(claimed.reduce((a, b) => a + b, 0)).toBe(12);
    expect(claimed.every((n) => n > 0)).toBe(true);
  });
});
