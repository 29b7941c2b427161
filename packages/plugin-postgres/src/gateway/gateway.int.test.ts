import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { requireService } from '@beamline/core/testing';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TestCluster, waitFor } from '../../test/support/cluster.js';
import { dropTestSchemas, postgresAvailable, TEST_URL, testSchema } from '../../test/support/database.js';
import {
  kill,
  selfSignedCertificate,
  startFixture,
  type FixtureProcess,
} from '../../test/support/gateway.js';
import { NetworkNamespace } from '../../test/support/netns.js';
import { ArtifactShare } from '../artifacts/artifact-share.js';
import { GatewayTokens } from './gateway-tokens.js';

const available =
  (await postgresAvailable()) &&
  requireService(
    'network namespaces',
    NetworkNamespace.available(),
    'Run the tests as root with iproute2 and iptables installed.',
  );

/** A step that says which worker ran it, works for a while, and says so again. */
function slowStep(seconds: number) {
  return {
    uses: 'exec',
    retry: { attempts: 3, initialDelayMs: 100 },
    with: {
      command: `echo "$WORKER_TAG $$" >> starts.log; sleep ${seconds}; echo "::output by=$WORKER_TAG"; echo "$WORKER_TAG" >> ends.log`,
    },
  };
}

async function jobRows(schema: string): Promise<Array<{ state: string; worker: string; refused: number }>> {
  const client = new pg.Client({ connectionString: TEST_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ state: string; worker: string; refused: number }>(
      `SELECT state, worker, refused FROM "${schema}".jobs ORDER BY created_at`,
    );
    return rows;
  } finally {
    await client.end();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One HTTPS request to the gateway: status and body. */
function request(
  url: string,
  ca: string,
  options: { method: string; path: string; token?: string; body?: Buffer | string },
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const body = typeof options.body === 'string' ? Buffer.from(options.body) : options.body;
    const req = https.request(new URL(options.path, url), {
      method: options.method,
      ca,
      agent: false,
      headers: {
        ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
        ...(body === undefined ? {} : { 'content-length': body.length }),
      },
    });
    req.on('error', reject);
    req.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }));
      response.on('error', reject);
    });
    req.end(body);
  });
}

describe.skipIf(!available)('the gateway: workers that cannot reach PostgreSQL, over HTTPS', () => {
  let cluster: TestCluster;
  let namespace: NetworkNamespace | undefined;
  const processes: FixtureProcess[] = [];
  afterEach(async () => {
    kill(processes.splice(0));
    await cluster?.close();
    namespace?.remove();
    namespace = undefined;
  });
  afterAll(dropTestSchemas);

  /** A namespace whose processes reach the host's gateway port but not PostgreSQL (iptables rejects 5432). */
  function firewalled(): NetworkNamespace {
    const ns = new NetworkNamespace();
    execFileSync(
      'ip',
      ['netns', 'exec', ns.name, 'iptables', '-A', 'OUTPUT', '-p', 'tcp', '--dport', '5432', '-j', 'REJECT'],
      {
        stdio: 'pipe',
      },
    );
    return ns;
  }

  async function gateway(port = 0, extra: Record<string, unknown> = {}) {
    const addresses = ['127.0.0.1', ...(namespace === undefined ? [] : [namespace.hostAddress])];
    const tls = selfSignedCertificate(cluster.root, addresses);
    const process_ = await startFixture('gateway-process.ts', {
      url: TEST_URL,
      schema: cluster.schema,
      host: '0.0.0.0',
      port,
      ...tls,
      ...extra,
    });
    processes.push(process_);
    const listening = Number(new URL(process_.ready).port);
    return { process: process_, port: listening, ca: tls.cert, tls };
  }

  async function token(name: string): Promise<string> {
    const { tokens, close } = await GatewayTokens.open({ url: TEST_URL, schema: cluster.schema });
    try {
      return await tokens.add(name);
    } finally {
      await close();
    }
  }

  async function revoke(name: string): Promise<void> {
    const { tokens, close } = await GatewayTokens.open({ url: TEST_URL, schema: cluster.schema });
    try {
      expect(await tokens.revoke(name)).toBe(true);
    } finally {
      await close();
    }
  }

  async function gatewayWorker(
    url: string,
    ca: string,
    secret: string,
    tag: string,
    wrap: readonly string[] = [],
  ): Promise<FixtureProcess> {
    const worker = await startFixture(
      'worker-process.ts',
      { gateway: { url, token: secret, ca }, name: tag },
      { WORKER_TAG: tag },
      wrap,
    );
    processes.push(worker);
    return worker;
  }

  it('a worker in a namespace that cannot reach PostgreSQL runs steps through the gateway over TLS', async () => {
    cluster = new TestCluster();
    namespace = firewalled();
    const runtime = await cluster.coordinator('10s');
    const gw = await gateway();
    // The namespace really cannot reach PostgreSQL on the host side of its pair.
    const probe = `require('net').connect(5432, '${namespace.hostAddress}').on('connect', () => process.exit(0)).on('error', () => process.exit(3))`;
    expect(() =>
      execFileSync('ip', ['netns', 'exec', namespace!.name, process.execPath, '-e', probe], {
        stdio: 'pipe',
        timeout: 20_000,
      }),
    ).toThrow();
    const secret = await token('remote-host');
    expect(secret).toMatch(/^blg_[A-Za-z0-9_-]{43}$/);
    await gatewayWorker(
      `https://${namespace.hostAddress}:${gw.port}`,
      gw.ca,
      secret,
      'remote',
      namespace.wrap,
    );
    const run = await runtime.run({
      name: 'through-gateway',
      steps: {
        hello: { uses: 'exec', with: { command: 'echo "::output by=$WORKER_TAG"; echo out; echo err >&2' } },
        fan: { uses: 'exec', needs: ['hello'], with: { command: 'echo "::output by=$WORKER_TAG"' } },
      },
    });
    const result = await run.done;
    expect(result.status).toBe('succeeded');
    expect(result.steps.hello?.outputs).toMatchObject({ by: 'remote' });
    expect(result.steps.fan?.outputs).toMatchObject({ by: 'remote' });
    const rows = await jobRows(cluster.schema);
    expect(rows.map((row) => row.worker)).toEqual(['remote-host/remote', 'remote-host/remote']);
    expect(rows.every((row) => row.state === 'exited' && row.refused === 0)).toBe(true);
    // The token is stored hashed, never in clear, and is never printed by the gateway.
    const client = new pg.Client({ connectionString: TEST_URL });
    await client.connect();
    const stored = await client.query<{ hash: string }>(
      `SELECT hash FROM "${cluster.schema}".gateway_tokens`,
    );
    await client.end();
    expect(stored.rows[0]?.hash).toBe(createHash('sha256').update(secret).digest('hex'));
    expect(gw.process.lines.join('\n')).not.toContain(secret);

    // The network cut mid-step for less than the lease (packets dropped): the step finishes once, on the
    // same worker, its writes retried until they get through.
    const cut = await runtime.run({
      name: 'cut',
      steps: {
        work: {
          uses: 'exec',
          with: {
            command:
              'echo "$WORKER_TAG $$" >> starts.log; for i in 1 2 3 4 5 6 7 8; do echo line $i; sleep 0.5; done; echo "::output by=$WORKER_TAG"',
          },
        },
      },
    });
    await waitFor(() => cluster.read('starts.log').length === 1, 60_000, 'the step to start');
    namespace.cut();
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    namespace.restore();
    const after = await cut.done;
    expect(after.status).toBe('succeeded');
    expect(after.steps.work?.outputs).toMatchObject({ by: 'remote' });
    expect(cluster.read('starts.log')).toHaveLength(1);
    const cutRows = await jobRows(cluster.schema);
    expect(cutRows.map((row) => [row.state, row.refused])).toEqual([
      ['exited', 0],
      ['exited', 0],
      ['exited', 0],
    ]);
  });

  it('kill -9 of a gateway worker mid-step: the step completes elsewhere; a stopped one has its late result refused', async () => {
    cluster = new TestCluster();
    const runtime = await cluster.coordinator('3s');
    const gw = await gateway();
    const url = `https://127.0.0.1:${gw.port}`;
    const a = await gatewayWorker(url, gw.ca, await token('a'), 'A');
    const run = await runtime.run({ name: 'kill', steps: { work: slowStep(2) } });
    await waitFor(() => cluster.read('starts.log').length === 1, 60_000, 'the step to start');
    a.child.kill('SIGKILL');
    await gatewayWorker(url, gw.ca, await token('b'), 'B');
    const result = await run.done;
    expect(result.status).toBe('succeeded');
    expect(result.steps.work?.outputs).toMatchObject({ by: 'B' });
    expect((await jobRows(cluster.schema)).map((row) => row.state)).toEqual(['lost', 'exited']);

    // A worker stopped (SIGSTOP) past its lease: the step goes to another, and once it is back every
    // write it makes through the gateway is refused.
    const c = await gatewayWorker(url, gw.ca, await token('c'), 'C');
    const stale = await runtime.run({ name: 'late', steps: { work: slowStep(4) } });
    await waitFor(() => cluster.read('starts.log').length === 3, 60_000, 'the second step to start');
    const holder = cluster.read('starts.log')[2]!.split(' ');
    const [held, other] = holder[0] === 'C' ? [c, 'B'] : [processes.find((p) => p.ready === 'B')!, 'C'];
    held.child.kill('SIGSTOP');
    const late = await stale.done;
    expect(late.status).toBe('succeeded');
    expect(late.steps.work?.outputs).toMatchObject({ by: other });
    held.child.kill('SIGCONT');
    await waitFor(() => held.lines.some((line) => line.includes('result is refused')), 60_000, 'the refusal');
    await waitFor(() => !alive(Number(holder[1])), 30_000, 'the stale process to be stopped');
    // Its late writes reached the gateway and were refused there (counted on the job it lost).
    const rows = await jobRows(cluster.schema);
    expect(rows.map((row) => row.state)).toEqual(['lost', 'exited', 'lost', 'exited']);
    expect(rows[2]!.refused).toBeGreaterThanOrEqual(1);
    expect(rows[3]!.refused).toBe(0);
  });

  it('a revoked token is refused at its next call; its step goes to another worker after the lease', async () => {
    cluster = new TestCluster();
    const runtime = await cluster.coordinator('3s');
    const gw = await gateway();
    const url = `https://127.0.0.1:${gw.port}`;
    const secretA = await token('a');
    const a = await gatewayWorker(url, gw.ca, secretA, 'A');
    const run = await runtime.run({ name: 'revoke', steps: { work: slowStep(6) } });
    await waitFor(() => cluster.read('starts.log').length === 1, 60_000, 'the step to start');
    const pid = Number(cluster.read('starts.log')[0]!.split(' ')[1]);
    await revoke('a');
    await waitFor(() => a.lines.some((line) => line.includes('401')), 30_000, 'the 401');
    await gatewayWorker(url, gw.ca, await token('b'), 'B');
    const result = await run.done;
    expect(result.status).toBe('succeeded');
    expect(result.steps.work?.outputs).toMatchObject({ by: 'B' });
    // The revoked worker stopped its process before its lease ran out.
    await waitFor(() => !alive(pid), 30_000, 'the revoked worker to stop its process');
    expect(cluster.read('ends.log')).toEqual(['B']);
    // A worker starting with a revoked token fails at once, clearly.
    await expect(gatewayWorker(url, gw.ca, secretA, 'X')).rejects.toThrow(/refused this worker's token/);
    // So does one with a token the gateway never issued.
    const made = 'blg_' + randomBytes(32).toString('base64url');
    await expect(gatewayWorker(url, gw.ca, made, 'Y')).rejects.toThrow(/refused this worker's token/);
  });

  it('cancel reaches a step behind the gateway through the heartbeat reply; a new queue wakes a waiting claim', async () => {
    cluster = new TestCluster();
    const runtime = await cluster.coordinator('10s');
    const gw = await gateway();
    const worker = await gatewayWorker(`https://127.0.0.1:${gw.port}`, gw.ca, await token('a'), 'A');
    // The worker is waiting at the gateway (long poll) when the run makes its queue: it is woken.
    const run = await runtime.run({ name: 'cancel', steps: { work: slowStep(60) } });
    await waitFor(() => cluster.read('starts.log').length === 1, 60_000, 'the step to start');
    const pid = Number(cluster.read('starts.log')[0]!.split(' ')[1]);
    run.cancel('enough');
    const result = await run.done;
    expect(result.status).toBe('cancelled');
    await waitFor(() => !alive(pid), 30_000, 'the step process to stop');
    expect(worker.lines.some((line) => line.includes('cancel requested'))).toBe(true);
    expect(cluster.read('ends.log')).toEqual([]);
    // SIGTERM while the worker waits at the gateway for work (a 20 s long poll): it gives the wait up and
    // exits cleanly at once.
    const asked = Date.now();
    worker.child.kill('SIGTERM');
    const code = await new Promise((resolve) => worker.child.once('exit', resolve));
    expect(code).toBe(0);
    expect(Date.now() - asked).toBeLessThan(15_000);
  });

  it('a gateway restarted mid-step loses nothing: the step finishes once, on the same worker', async () => {
    cluster = new TestCluster();
    const runtime = await cluster.coordinator('10s');
    const first = await gateway();
    const url = `https://127.0.0.1:${first.port}`;
    await gatewayWorker(url, first.ca, await token('a'), 'A');
    const run = await runtime.run({
      name: 'restart',
      steps: {
        work: {
          uses: 'exec',
          with: {
            command:
              'echo "$WORKER_TAG $$" >> starts.log; for i in 1 2 3 4 5 6; do echo line $i; sleep 0.5; done; echo "::output by=$WORKER_TAG"',
          },
        },
      },
    });
    await waitFor(() => cluster.read('starts.log').length === 1, 60_000, 'the step to start');
    first.process.child.kill('SIGKILL');
    await new Promise((resolve) => first.process.child.once('exit', resolve));
    const again = await startFixture('gateway-process.ts', {
      url: TEST_URL,
      schema: cluster.schema,
      host: '0.0.0.0',
      port: first.port,
      ...first.tls,
    });
    processes.push(again);
    const result = await run.done;
    expect(result.status).toBe('succeeded');
    expect(result.steps.work?.outputs).toMatchObject({ by: 'A' });
    expect(cluster.read('starts.log')).toHaveLength(1);
    const rows = await jobRows(cluster.schema);
    expect(rows.map((row) => row.state)).toEqual(['exited']);
    expect(rows[0]?.refused).toBe(0);
  });

  it('token tables made by several processes at once; names checked; a revoked name is not reused', async () => {
    cluster = new TestCluster();
    const schema = testSchema('tok');
    const opened = await Promise.all(
      Array.from({ length: 4 }, () => GatewayTokens.open({ url: TEST_URL, schema })),
    );
    try {
      const { tokens } = opened[0]!;
      const first = await tokens.add('node-1');
      expect(await opened[1]!.tokens.revoke('node-1')).toBe(true);
      expect(await tokens.revoke('node-1')).toBe(false);
      await expect(tokens.add('node-1')).rejects.toThrow(/exists already/);
      await expect(tokens.add('../etc')).rejects.toThrow(/token name: expected/);
      await expect(tokens.add('x'.repeat(65))).rejects.toThrow(/token name: expected/);
      expect(await tokens.verify(first)).toBeUndefined();
      const second = await tokens.add('node-2');
      expect(await opened[2]!.tokens.verify(second)).toBe('node-2');
      expect((await opened[3]!.tokens.list()).map((entry) => [entry.name, entry.revokedAt === null])).toEqual(
        [
          ['node-1', false],
          ['node-2', true],
        ],
      );
    } finally {
      await Promise.all(opened.map(({ close }) => close()));
    }
  });

  it('hostile requests get a clear 4xx and the gateway stays up; artifacts are kept only when their sha256 matches', async () => {
    cluster = new TestCluster();
    const artifacts = path.join(cluster.root, 'artifacts');
    const gw = await gateway(0, { artifactsDir: artifacts, maxArtifactBytes: 1024 * 1024 });
    const url = `https://127.0.0.1:${gw.port}`;
    const secret = await token('probe');
    const call = (method: string, path_: string, body?: Buffer | string, token: string | null = secret) =>
      request(url, gw.ca, {
        method,
        path: path_,
        ...(body === undefined ? {} : { body }),
        ...(token === null ? {} : { token }),
      });
    const json = (body: Buffer) => JSON.parse(body.toString()) as Record<string, unknown>;

    expect((await call('GET', '/v1/queues', undefined, null)).status).toBe(401);
    expect((await call('GET', '/v1/queues', undefined, 'blg_wrong')).status).toBe(401);
    expect((await call('GET', '/v1/queues')).status).toBe(200);
    const huge = await call('POST', '/v1/jobs/heartbeat', Buffer.alloc(3 * 1024 * 1024, 'a'));
    expect(huge.status).toBe(413);
    const notJson = await call('POST', '/v1/jobs/heartbeat', '{"id":');
    expect(notJson.status).toBe(400);
    expect(json(notJson.body).error).toMatch(/JSON/);
    const wrongType = await call(
      'POST',
      '/v1/claim',
      JSON.stringify({ worker: 'w', queues: ['q'], room: 'many', waitMs: 0 }),
    );
    expect(wrongType.status).toBe(400);
    expect(json(wrongType.body).error).toMatch(/^room: /);
    const extra = await call(
      'POST',
      '/v1/jobs/heartbeat',
      JSON.stringify({ id: 'x', token: 'y', admin: true }),
    );
    expect(extra.status).toBe(400);
    const badChunk = await call(
      'POST',
      '/v1/jobs/output',
      JSON.stringify({ id: 'x', token: 'y', first: 1, chunks: [{ stream: 'stdin', data: 'aGk=' }] }),
    );
    expect(json(badChunk.body).error).toMatch(/^chunks\.0\.stream: /);
    // A job token that is not the job's: the write is refused, not an error.
    const wrongJob = await call(
      'POST',
      '/v1/jobs/end',
      JSON.stringify({ id: 'nope', token: 'nope', end: { kind: 'hand-back' } }),
    );
    expect(wrongJob.status).toBe(200);
    expect(json(wrongJob.body)).toEqual({ accepted: false });
    const beat = await call('POST', '/v1/jobs/heartbeat', JSON.stringify({ id: 'nope', token: 'nope' }));
    expect(json(beat.body)).toEqual({ held: false, cancel: null });
    expect((await call('DELETE', '/v1/claim')).status).toBe(405);
    expect((await call('POST', '/v1/nothing', '{}')).status).toBe(404);

    // Artifacts by content.
    const data = randomBytes(200_000);
    const digest = createHash('sha256').update(data).digest('hex');
    const wrong = await call('PUT', `/artifacts/${createHash('sha256').update('other').digest('hex')}`, data);
    expect(wrong.status).toBe(400);
    expect(json(wrong.body).error).toMatch(/sha256/);
    expect((await call('PUT', `/artifacts/${digest}`, data, null)).status).toBe(401);
    expect((await call('PUT', '/artifacts/..%2Fescape', data)).status).toBe(400);
    expect((await call('PUT', `/artifacts/${digest}`, Buffer.alloc(2 * 1024 * 1024))).status).toBe(413);
    expect((await call('GET', `/artifacts/${digest}`)).status).toBe(404);
    expect((await call('PUT', `/artifacts/${digest}`, data)).status).toBe(201);
    expect((await call('PUT', `/artifacts/${digest}`, data)).status).toBe(204);
    const back = await call('GET', `/artifacts/${digest}`);
    expect(back.status).toBe(200);
    expect(back.body.equals(data)).toBe(true);
    // Nothing half-written or wrong was kept.
    expect(readdirSync(artifacts)).toEqual([digest]);

    // A client that goes away mid-upload leaves nothing behind.
    await new Promise<void>((resolve) => {
      const partial = https.request(new URL(`/artifacts/${'ab'.repeat(32)}`, url), {
        method: 'PUT',
        ca: gw.ca,
        agent: false,
        headers: { authorization: `Bearer ${secret}`, 'content-length': 100_000 },
      });
      partial.on('error', () => resolve());
      partial.write(Buffer.alloc(1_000), () => setTimeout(() => partial.destroy(), 200));
      partial.on('close', () => resolve());
    });
    await waitFor(
      () => readdirSync(artifacts).every((name) => !name.startsWith('.partial')),
      30_000,
      'the partial upload to be removed',
    );

    // The artifact share client (plugin-postgres' artifacts across hosts) takes the gateway for a share.
    const share = ArtifactShare.open({ share: `${url}/artifacts/`, token: secret, ca: gw.ca });
    const file = path.join(cluster.root, 'model.bin');
    const model = randomBytes(300_000);
    writeFileSync(file, model);
    const digest2 = { sha256: createHash('sha256').update(model).digest('hex'), size: model.length };
    await share.upload(file, digest2, 'model.bin');
    await share.download(digest2, path.join(cluster.root, 'model.copy'), 'model.bin');
    expect(readFileSync(path.join(cluster.root, 'model.copy')).equals(model)).toBe(true);
    expect(readdirSync(artifacts).sort()).toEqual([digest, digest2.sha256].sort());

    // Still up, still answering.
    expect((await call('GET', '/v1/queues')).status).toBe(200);
    expect(gw.process.child.exitCode).toBeNull();
    expect(gw.process.lines.join('\n')).not.toContain(secret);
    expect(gw.process.lines.some((line) => line.includes('refused a request from 127.0.0.1'))).toBe(true);
  });
});
