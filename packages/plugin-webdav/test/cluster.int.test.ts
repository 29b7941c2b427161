import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { createRuntime, MemoryStore, type RuntimeEvent } from '@beamline/core';
import { requireService } from '@beamline/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LITMUS_SUITES, litmusProblems, runLitmusSuite, type LitmusSuite } from './clients/harness/litmus.js';
import { createWebdavPlugin } from '../src/plugin.js';
import type { AccessEvent } from '../src/server/access-log.js';
import { WebdavServiceToken } from '../src/tokens.js';
import { hasBinary, INSTALL_HINT } from './support/peers/tools.js';
import { basic, REALM, securityFixture, USERS, type SecurityFixture } from './support/fixture.js';
import { startShare, type StartedShare } from './support/start-share.js';

/**
 * The cluster mode with real processes: two workers behind one port, a request forced to a given
 * worker (a fresh connection, checked by the `X-Beamline-Worker` header of a first OPTIONS on it),
 * and every piece of shared state checked across them; then kill -9 of a worker mid-upload and of the
 * primary, and litmus against the cluster.
 */

interface Answer {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly text: string;
  readonly worker: number;
}

function send(
  agent: Agent,
  base: string,
  method: string,
  path: string,
  init: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { method, agent, headers: init.headers ?? {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text,
          worker: Number(res.headers['x-beamline-worker']),
        }),
      );
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** Whether a process exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return !/^State:\s+Z/m.test(status);
  } catch {
    return false;
  }
}

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const temps = (folder: string): string[] =>
  readdirSync(folder).filter((name) => name.startsWith('.beamline-part-'));

/**
 * A keep-alive connection to the given worker (new connections until one lands on it). Workers accept
 * from the shared socket themselves: a worker still busy (a loaded machine, a state-file lock being
 * waited for) takes none for a while, so this waits up to 30 s.
 */
async function connectToWorker(share: StartedShare, pid: number): Promise<Agent> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const probe = await send(agent, share.url, 'OPTIONS', '/data/');
    if (probe.worker === pid) return agent;
    agent.destroy();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no connection landed on worker ${pid} (workers: ${share.workers().join(', ')})`);
}

/** Sends a request through the given worker (and checks that it answered). */
async function viaWorker(
  share: StartedShare,
  pid: number,
  method: string,
  path: string,
  init: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Answer> {
  const agent = await connectToWorker(share, pid);
  try {
    const answer = await send(agent, share.url, method, path, init);
    expect(answer.worker, `${method} ${path} answered by another worker`).toBe(pid);
    return answer;
  } finally {
    agent.destroy();
  }
}

describe('cluster mode: two workers share one state', () => {
  let fixture: SecurityFixture;
  let share: StartedShare;
  let pids: number[];
  const logFile = (): string => join(fixture.root, 'access.log');

  const via = (
    pid: number,
    method: string,
    path: string,
    init: { headers?: Record<string, string>; body?: string | Buffer } = {},
  ): Promise<Answer> => viaWorker(share, pid, method, path, init);
  const connectTo = (pid: number): Promise<Agent> => connectToWorker(share, pid);

  beforeAll(async () => {
    fixture = await securityFixture();
    const config = {
      ...fixture.config,
      accessLog: { file: join(fixture.root, 'access.log') },
      shares: (fixture.config.shares ?? []).map((s) => (s.path === '/data' ? { ...s, quota: '1m' } : s)),
    };
    share = await startShare(config, { workers: 2 });
    pids = share.workers();
  }, 120_000);
  afterAll(async () => {
    await share?.stop();
    fixture?.cleanup();
  });

  it('runs two workers, each answering with its pid', () => {
    expect(pids).toHaveLength(2);
    expect(new Set(pids).size).toBe(2);
    expect(pids).not.toContain(share.pid);
  });

  it('locks: a lock taken through worker 1 refuses a PUT without its token through worker 2', async () => {
    const [one, two] = pids as [number, number];
    const lock = await via(one, 'LOCK', '/data/locked.txt', {
      headers: { authorization: basic('writer'), 'content-type': 'application/xml', timeout: 'Second-600' },
      body: '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>t</D:owner></D:lockinfo>',
    });
    expect(lock.status).toBe(201);
    const token = String(lock.headers['lock-token']).replace(/^<|>$/g, '');
    const put = { authorization: basic('writer') };
    expect((await via(two, 'PUT', '/data/locked.txt', { headers: put, body: 'x' })).status).toBe(423);
    // A second exclusive lock through the other worker conflicts too.
    const second = await via(two, 'LOCK', '/data/locked.txt', {
      headers: { authorization: basic('writer'), 'content-type': 'application/xml' },
      body: '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>',
    });
    expect(second.status).toBe(423);
    const withToken = await via(two, 'PUT', '/data/locked.txt', {
      headers: { ...put, if: `(<${token}>)` },
      body: 'written under the lock',
    });
    expect(withToken.status).toBe(204);
    expect(
      (await via(two, 'UNLOCK', '/data/locked.txt', { headers: { ...put, 'lock-token': `<${token}>` } }))
        .status,
    ).toBe(204);
    expect((await via(one, 'PUT', '/data/locked.txt', { headers: put, body: 'free again' })).status).toBe(
      204,
    );
    expect(readFileSync(join(fixture.data, 'locked.txt'), 'utf8')).toBe('free again');
  });

  it('Digest: a nonce issued by one worker is valid on the other; a replay is refused on both', async () => {
    const [one, two] = pids as [number, number];
    const first = await via(one, 'PROPFIND', '/data-wip/', { headers: { depth: '0' } });
    expect(first.status).toBe(401);
    const challenge =
      [first.headers['www-authenticate']].flat().find((value) => value?.startsWith('Digest')) ?? '';
    const nonce = /nonce="([^"]+)"/.exec(challenge)?.[1] ?? '';
    expect(nonce).not.toBe('');
    const md5 = (text: string): string => createHash('md5').update(text).digest('hex');
    const header = (nc: string): string => {
      const ha1 = md5(`writer:${REALM}:${USERS.writer}`);
      const ha2 = md5('PROPFIND:/data-wip/');
      const response = md5(`${ha1}:${nonce}:${nc}:cn:auth:${ha2}`);
      return `Digest username="writer", realm="${REALM}", nonce="${nonce}", uri="/data-wip/", qop=auth, nc=${nc}, cnonce="cn", response="${response}", algorithm=MD5`;
    };
    const headers = { depth: '0', authorization: header('00000001') };
    expect((await via(two, 'PROPFIND', '/data-wip/', { headers })).status).toBe(207);
    expect((await via(one, 'PROPFIND', '/data-wip/', { headers })).status, 'replay on the issuer').toBe(401);
    expect((await via(two, 'PROPFIND', '/data-wip/', { headers })).status, 'replay on the other').toBe(401);
    const next = { depth: '0', authorization: header('00000002') };
    expect((await via(one, 'PROPFIND', '/data-wip/', { headers: next })).status).toBe(207);
  });

  it('races: two LOCKs sent at once through both workers, one wins; one Digest count sent twice at once, one is accepted', async () => {
    const [one, two] = pids as [number, number];
    const lockBody =
      '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>';
    for (let round = 0; round < 10; round += 1) {
      const [a, b] = await Promise.all([connectTo(one), connectTo(two)]);
      const lock = (agent: Agent): Promise<Answer> =>
        send(agent, share.url, 'LOCK', `/data/race-${round}.txt`, {
          headers: { authorization: basic('writer'), 'content-type': 'application/xml' },
          body: lockBody,
        });
      const statuses = (await Promise.all([lock(a), lock(b)])).map((answer) => answer.status).sort();
      expect(statuses, `round ${round}`).toEqual([201, 423]);
      a.destroy();
      b.destroy();
    }
    const md5 = (text: string): string => createHash('md5').update(text).digest('hex');
    for (let round = 0; round < 10; round += 1) {
      const [a, b] = await Promise.all([connectTo(one), connectTo(two)]);
      const challenge = await send(a, share.url, 'PROPFIND', '/data-wip/', { headers: { depth: '0' } });
      const nonce =
        /nonce="([^"]+)"/.exec([challenge.headers['www-authenticate']].flat().join(' '))?.[1] ?? '';
      const ha1 = md5(`writer:${REALM}:${USERS.writer}`);
      const response = md5(`${ha1}:${nonce}:00000001:c${round}:auth:${md5('PROPFIND:/data-wip/')}`);
      const headers = {
        depth: '0',
        authorization: `Digest username="writer", realm="${REALM}", nonce="${nonce}", uri="/data-wip/", qop=auth, nc=00000001, cnonce="c${round}", response="${response}", algorithm=MD5`,
      };
      const statuses = (
        await Promise.all([
          send(a, share.url, 'PROPFIND', '/data-wip/', { headers }),
          send(b, share.url, 'PROPFIND', '/data-wip/', { headers }),
        ])
      )
        .map((answer) => answer.status)
        .sort();
      expect(statuses, `round ${round}`).toEqual([207, 401]);
      a.destroy();
      b.destroy();
    }
  }, 120_000);

  it('quota: uploads through two workers at once cannot exceed the share quota together', async () => {
    const [one, two] = pids as [number, number];
    const size = 700 * 1024; // two of them exceed the 1 MiB quota
    const agent = await connectTo(one);
    let holding: ClientRequest | undefined;
    const first = new Promise<number>((resolve, reject) => {
      holding = httpRequest(
        `${share.url}/data/q1.bin`,
        { method: 'PUT', agent, headers: { authorization: basic('writer'), 'content-length': String(size) } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      holding.on('error', reject);
      holding.write(Buffer.alloc(1024, 1));
    });
    // The first upload has reserved its bytes once its temporary file exists.
    await until('the first upload to start', () => temps(fixture.data).length > 0);
    const second = await via(two, 'PUT', '/data/q2.bin', {
      headers: { authorization: basic('writer') },
      body: Buffer.alloc(size, 2),
    });
    expect(second.status).toBe(507);
    holding?.end(Buffer.alloc(size - 1024, 1));
    expect(await first).toBe(201);
    agent.destroy();
    expect(statSync(join(fixture.data, 'q1.bin')).size).toBe(size);
    expect(existsSync(join(fixture.data, 'q2.bin'))).toBe(false);
    // Through either worker, the room left is what the first upload did not take.
    const third = await via(two, 'PUT', '/data/q3.bin', {
      headers: { authorization: basic('writer') },
      body: Buffer.alloc(size, 3),
    });
    expect(third.status).toBe(507);
  });

  it('access log: one writer (the primary), whole JSON lines naming the worker that answered', async () => {
    const [one, two] = pids as [number, number];
    await via(one, 'GET', '/data/file.txt');
    await via(two, 'GET', '/data/file.txt');
    const gets = (): { method: string; path: string; pid: number }[] =>
      (existsSync(logFile()) ? readFileSync(logFile(), 'utf8') : '')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as { method: string; path: string; pid: number })
        .filter((event) => event.method === 'GET' && event.path === '/data/file.txt');
    await until('both GETs in the access log', () => gets().length >= 2);
    expect(new Set(gets().map((event) => event.pid))).toEqual(new Set([one, two]));
    expect(readFileSync(logFile(), 'utf8')).not.toContain(USERS.writer);
  });

  const hasLitmus = requireService('litmus', hasBinary('litmus'), INSTALL_HINT);
  it.skipIf(!hasLitmus)(
    'litmus passes 104/104 against the cluster, the workers unchanged after',
    async () => {
      for (const suite of Object.keys(LITMUS_SUITES) as LitmusSuite[]) {
        const run = await runLitmusSuite(suite, {
          url: `${share.url}/data-wip/`,
          user: 'writer',
          password: USERS.writer,
          timeoutMs: 150_000,
        });
        const problems = litmusProblems(run, LITMUS_SUITES[suite]);
        expect(problems, `${problems.join('\n')}\n${run.output}\n${run.debugTail ?? ''}`).toEqual([]);
      }
      expect(share.workers()).toEqual(pids);
    },
    600_000,
  );

  it('kill -9 of a worker mid-upload: no half file, its leftover removed, the server keeps serving, a new worker', async () => {
    const [one, two] = pids as [number, number];
    writeFileSync(join(fixture.wip, 'kept.bin'), 'the old content');
    const agent = await connectTo(one);
    const cut = new Promise<string>((resolve) => {
      const req = httpRequest(`${share.url}/data-wip/kept.bin`, {
        method: 'PUT',
        agent,
        headers: { authorization: basic('writer'), 'content-length': String(8 * 1024 * 1024) },
      });
      req.on('error', (error) => resolve(error.message));
      req.on('response', (res) => resolve(`answered ${res.statusCode}`));
      req.write(Buffer.alloc(1024 * 1024, 7));
    });
    await until('the upload to start', () => temps(fixture.wip).length > 0);
    process.kill(one, 'SIGKILL');
    expect(await cut).not.toMatch(/^answered 2/);
    expect(readFileSync(join(fixture.wip, 'kept.bin'), 'utf8')).toBe('the old content');
    await until("the dead worker's temporary file to be removed", () => temps(fixture.wip).length === 0);
    // The other worker answers meanwhile; then a replacement joins.
    expect((await via(two, 'GET', '/data/file.txt')).status).toBe(200);
    await until('a replacement worker', () => share.workers().length === 2 && !share.workers().includes(one));
    const replacement = share.workers().find((pid) => pid !== two) ?? 0;
    expect(alive(one)).toBe(false);
    expect((await via(replacement, 'GET', '/data/file.txt')).text).toBe('public data\n');
    pids = share.workers();
    agent.destroy();
  }, 120_000);

  it("leftovers are the primary's: a replacement worker (and the dead one's clean-up) leaves another worker's upload alone", async () => {
    const [one, two] = pids as [number, number];
    const size = 2 * 1024 * 1024;
    const agent = await connectTo(one);
    let holding: ClientRequest | undefined;
    const upload = new Promise<number>((resolve, reject) => {
      holding = httpRequest(
        `${share.url}/data-wip/survivor.bin`,
        { method: 'PUT', agent, headers: { authorization: basic('writer'), 'content-length': String(size) } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      holding.on('error', reject);
      holding.write(Buffer.alloc(1024 * 1024, 5));
    });
    await until('the upload to start', () => temps(fixture.wip).length === 1);
    const temp = temps(fixture.wip)[0];
    process.kill(two, 'SIGKILL');
    await until('a replacement worker', () => share.workers().length === 2 && !share.workers().includes(two));
    // The replacement listens: it has opened the state, and the dead worker was cleaned up after.
    const replacement = share.workers().find((pid) => pid !== one) ?? 0;
    expect((await via(replacement, 'GET', '/data/file.txt')).status).toBe(200);
    expect(temps(fixture.wip)).toEqual([temp]);
    holding?.end(Buffer.alloc(size - 1024 * 1024, 5));
    expect(await upload).toBe(201);
    expect(statSync(join(fixture.wip, 'survivor.bin')).size).toBe(size);
    expect(temps(fixture.wip)).toEqual([]);
    pids = share.workers();
    agent.destroy();
  }, 120_000);
});

describe('cluster mode: a fresh cluster per test', () => {
  let fixture: SecurityFixture;
  beforeAll(async () => {
    fixture = await securityFixture();
  });
  afterAll(() => fixture?.cleanup());

  it('failed-login throttle: failures through two workers add up (N workers do not give N times the attempts)', async () => {
    const throttled = await securityFixture({ throttle: { failures: 4, window: '1m', block: '1m' } });
    const share = await startShare(throttled.config, { workers: 2 });
    const [one, two] = share.workers() as [number, number];
    const via = (
      pid: number,
      method: string,
      path: string,
      init: { headers?: Record<string, string> } = {},
    ): Promise<Answer> => viaWorker(share, pid, method, path, init);
    try {
      const wrong = { authorization: `Basic ${Buffer.from('writer:wrong').toString('base64')}` };
      expect((await via(one, 'GET', '/data-wip/', { headers: wrong })).status).toBe(401);
      expect((await via(two, 'GET', '/data-wip/', { headers: wrong })).status).toBe(401);
      expect((await via(one, 'GET', '/data-wip/', { headers: wrong })).status).toBe(401);
      expect((await via(two, 'GET', '/data-wip/', { headers: wrong })).status, 'the 4th failure blocks').toBe(
        429,
      );
      // Blocked on both, even with the right password; anonymous reads still work.
      expect(
        (await via(one, 'GET', '/data-wip/', { headers: { authorization: basic('writer') } })).status,
      ).toBe(429);
      expect(
        (await via(two, 'GET', '/data-wip/', { headers: { authorization: basic('writer') } })).status,
      ).toBe(429);
      expect((await via(one, 'GET', '/data/file.txt')).status).toBe(200);
    } finally {
      await share.stop();
      throttled.cleanup();
    }
  }, 120_000);
  it('every worker killed at once: the primary stays and serves again on the same port', async () => {
    const share = await startShare(fixture.config, { workers: 2 });
    try {
      const first = share.workers();
      expect(first).toHaveLength(2);
      for (const pid of first) process.kill(pid, 'SIGKILL');
      await until(
        'two replacement workers',
        () => share.workers().length === 2 && share.workers().every((pid) => !first.includes(pid)),
      );
      expect(alive(share.pid)).toBe(true);
      const agent = new Agent({ keepAlive: false });
      expect((await send(agent, share.url, 'GET', '/data/file.txt')).text).toBe('public data\n');
      agent.destroy();
    } finally {
      await share.stop();
    }
  }, 120_000);

  it('a clean stop stops every worker', async () => {
    const share = await startShare(fixture.config, { workers: 2 });
    const workers = share.workers();
    expect(workers).toHaveLength(2);
    await share.stop();
    await until('the workers to exit', () => workers.every((pid) => !alive(pid)), 30_000);
  }, 120_000);

  it('kill -9 of the primary: the workers notice the closed channel and exit', async () => {
    const share = await startShare(fixture.config, { workers: 2 });
    const workers = share.workers();
    expect(workers).toHaveLength(2);
    process.kill(share.pid, 'SIGKILL');
    await until('the workers to exit', () => workers.every((pid) => !alive(pid)), 30_000);
    await share.stop();
  }, 120_000);

  it('the webdav service with workers: 2 reports its workers, forwards their access events, stops them all', async () => {
    const events: RuntimeEvent[] = [];
    const runtime = await createRuntime({
      store: new MemoryStore(),
      cwd: fixture.root,
      plugins: [
        createWebdavPlugin({
          shares: { ...fixture.config, stateDir: join(fixture.root, 'service-state') },
          listen: { host: '127.0.0.1', port: 0 },
          workers: 2,
        }),
      ],
    });
    const subscription = runtime.events$.subscribe((event) => events.push(event));
    let workers: number[] = [];
    try {
      const service = runtime.resolve(WebdavServiceToken);
      const { url } = await service.start();
      workers = service.cluster?.workers().map((worker) => worker.pid) ?? [];
      expect(workers).toHaveLength(2);
      const health = await service.health();
      expect(health.ok).toBe(true);
      expect(health.detail).toContain('2/2 workers');
      const seen: AccessEvent[] = [];
      service.server?.events.on('access', (event) => seen.push(event));
      // A listener added after the start is seen by the workers within half a second.
      await until("the workers' access events", async () => {
        const agent = new Agent({ keepAlive: false });
        expect((await send(agent, url, 'GET', '/data/file.txt')).status).toBe(200);
        agent.destroy();
        return new Set(seen.map((event) => event.pid)).size === 2;
      });
      expect(new Set(seen.map((event) => event.pid))).toEqual(new Set(workers));
      // A worker killed: health says so until its replacement listens.
      process.kill(workers[0] ?? 0, 'SIGKILL');
      await until(
        'the replacement',
        async () =>
          (await service.health()).detail?.includes('1 replaced') === true && (await service.health()).ok,
      );
      workers = service.cluster?.workers().map((worker) => worker.pid) ?? [];
      expect(events.some((event) => JSON.stringify(event).includes('died'))).toBe(true);
    } finally {
      await runtime.close();
      subscription.unsubscribe();
    }
    await until('the workers to exit', () => workers.every((pid) => !alive(pid)), 30_000);
  }, 120_000);
});
