import { requireService } from '@beamline/core/testing';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { dropTestSchemas, postgresAvailable, TEST_URL } from '../../test/support/database.js';
import { TestCluster, waitFor } from '../../test/support/cluster.js';
import { NetworkNamespace } from '../../test/support/netns.js';

const available =
  (await postgresAvailable()) &&
  requireService(
    'network namespaces',
    NetworkNamespace.available(),
    'Run the tests as root with iproute2 installed.',
  );

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!available)('distributed mode: a worker on its own network (namespace, veth)', () => {
  let cluster: TestCluster;
  let namespace: NetworkNamespace | undefined;
  afterEach(async () => {
    await cluster?.close();
    namespace?.remove();
    namespace = undefined;
  });
  afterAll(dropTestSchemas);

  it('runs steps over the veth; cut off mid-step, its step completes elsewhere and its late result is refused', async () => {
    cluster = new TestCluster();
    namespace = new NetworkNamespace();
    const runtime = await cluster.coordinator('3s');
    const remote = await cluster.worker(
      { url: namespace.url(TEST_URL) },
      { WORKER_TAG: 'remote' },
      namespace.wrap,
    );
    const warmup = await (
      await runtime.run({
        name: 'over-veth',
        steps: { hello: { uses: 'exec', with: { command: 'echo "::output by=$WORKER_TAG"' } } },
      })
    ).done;
    expect(warmup.steps.hello?.outputs).toMatchObject({ by: 'remote' });

    const run = await runtime.run({
      name: 'cut',
      steps: {
        work: {
          uses: 'exec',
          retry: { attempts: 3, initialDelayMs: 100 },
          with: {
            command:
              'echo "$WORKER_TAG $$" >> starts.log; sleep 6; echo "::output by=$WORKER_TAG"; echo "$WORKER_TAG" >> ends.log',
          },
        },
      },
    });
    await waitFor(() => cluster.read('starts.log').length === 1, 60_000, 'the step to start');
    const pid = Number(cluster.read('starts.log')[0]!.split(' ')[1]);
    namespace.cut();
    await cluster.worker({}, { WORKER_TAG: 'local' });
    const result = await run.done;
    expect(result.status).toBe('succeeded');
    expect(result.steps.work?.outputs).toMatchObject({ by: 'local' });
    namespace.restore();
    // Reconnected, the cut-off worker learns the lease is gone: its process is stopped, its result refused.
    await waitFor(
      () => remote.lines.some((line) => line.includes('result is refused')),
      90_000,
      'the refusal',
    );
    await waitFor(() => !alive(pid), 30_000, 'the stale process to stop');
    expect(cluster.read('ends.log')).toEqual(['local']);
  });
});
