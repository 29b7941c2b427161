import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isSlurmError } from '../errors/slurm-error.js';
import { SlurmClient, submissionBody, type JobSubmission } from './slurm-client.js';

// Debian 12 ships slurmrestd 22.05 (v0.0.38), which the integration tests run. Newer API versions, and
// slurmrestd behind proxies that misbehave, cannot run here: this server answers as they do (shapes
// taken from SchedMD's data_parser sources of v0.0.40 to v0.0.44).

type Handler = (
  req: http.IncomingMessage,
  body: string,
) => { status?: number; json?: unknown; text?: string; delayMs?: number };
const servers: http.Server[] = [];

async function serve(handler: Handler): Promise<{
  url: string;
  requests: { method: string; url: string; body: string; headers: http.IncomingHttpHeaders }[];
}> {
  const requests: { method: string; url: string; body: string; headers: http.IncomingHttpHeaders }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', body, headers: req.headers });
      const answer = handler(req, body);
      const send = (): void => {
        res.statusCode = answer.status ?? 200;
        if (answer.json !== undefined) res.setHeader('content-type', 'application/json');
        res.end(answer.json === undefined ? (answer.text ?? '') : JSON.stringify(answer.json));
      };
      if (answer.delayMs) setTimeout(send, answer.delayMs);
      else send();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A token whose claims say user `alice`, valid for an hour (the signature is never checked here). */
function token(expiresInS = 3600, user = 'alice'): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'HS256' })}.${part({ exp: Math.floor(Date.now() / 1000) + expiresInS, sun: user })}.c2ln`;
}

const spec = (paths: string[]) => ({
  json: { openapi: '3.0.3', paths: Object.fromEntries(paths.map((p) => [p, {}])) },
});

const job: JobSubmission = {
  script: '#!/bin/sh\ntrue\n',
  name: 'beamline/r/s',
  comment: 'beamline:1 {}',
  cwd: '/work',
  stdout: '/work/o',
  stderr: '/work/e',
  environment: { PATH: '/bin', A: 'x=y' },
  partition: 'gpu',
  cpusPerTask: 4,
  memoryMb: 2048,
  gpus: 2,
  timeLimitMinutes: 30,
};

async function failure(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (isSlurmError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a failure');
}

describe('API versions', () => {
  it('picks the newest version it speaks from /openapi/v3 and speaks its shapes', async () => {
    const { url, requests } = await serve((req) => {
      if (req.url === '/openapi/v3')
        return spec([
          '/slurm/v0.0.40/ping',
          '/slurm/v0.0.41/job/submit',
          '/slurm/v0.0.99/ping',
          '/slurmdb/v0.0.41/jobs',
        ]);
      if (req.url?.startsWith('/slurm/v0.0.41/job/submit'))
        return { json: { job_id: 12, step_id: 'batch', errors: [], warnings: [] } };
      if (req.url === '/slurm/v0.0.41/job/12')
        return {
          json: {
            jobs: [
              {
                job_id: 12,
                job_state: ['FAILED'],
                exit_code: {
                  status: ['ERROR'],
                  return_code: { set: true, infinite: false, number: 2 },
                  signal: { id: { set: false, infinite: false, number: 0 }, name: '' },
                },
                user_name: 'alice',
                comment: 'c',
                batch_host: 'n1',
              },
            ],
            errors: [],
          },
        };
      return { status: 404, text: 'Unable find requested URL. Please view /openapi/v3 for API reference.' };
    });
    const client = new SlurmClient({ url, token: token() });
    expect(await client.apiVersion()).toBe('v0.0.41');
    expect(await client.submit(job)).toEqual({ jobId: 12, warnings: [] });
    const sent = JSON.parse(requests.find((r) => r.method === 'POST')!.body) as {
      job: Record<string, unknown>;
    };
    expect(sent).toEqual({
      job: {
        name: 'beamline/r/s',
        comment: 'beamline:1 {}',
        current_working_directory: '/work',
        standard_output: '/work/o',
        standard_error: '/work/e',
        environment: ['PATH=/bin', 'A=x=y'],
        partition: 'gpu',
        cpus_per_task: 4,
        memory_per_node: { set: true, number: 2048 },
        time_limit: { set: true, number: 30 },
        tres_per_node: 'gres/gpu:2',
        script: '#!/bin/sh\ntrue\n',
        requeue: false,
      },
    });
    expect(requests[1]?.headers['x-slurm-user-name']).toBe('alice');
    expect(await client.job(12)).toMatchObject({
      state: 'FAILED',
      exit: { code: 2, signal: null },
      user: 'alice',
    });
    client.close();
  });

  it("sends v0.0.38's flat options", () => {
    expect(submissionBody('v0.0.38', job)).toEqual({
      script: job.script,
      job: {
        name: job.name,
        comment: job.comment,
        current_working_directory: '/work',
        standard_output: '/work/o',
        standard_error: '/work/e',
        environment: { PATH: '/bin', A: 'x=y' },
        partition: 'gpu',
        cpus_per_task: 4,
        memory_per_node: 2048,
        time_limit: 30,
        gres: 'gpu:2',
        no_requeue: true,
      },
    });
  });

  it('probes the ping endpoints when there is no specification, and names what a server offers that it does not speak', async () => {
    const old = await serve((req) =>
      req.url === '/slurm/v0.0.39/ping'
        ? { json: { pings: [] } }
        : { status: 404, text: 'Unable find requested URL.' },
    );
    expect(await new SlurmClient({ url: old.url, token: token() }).apiVersion()).toBe('v0.0.39');
    const tooOld = await serve((req) =>
      req.url === '/openapi/v3' ? spec(['/slurm/v0.0.37/ping']) : { status: 404 },
    );
    expect(await failure(new SlurmClient({ url: tooOld.url, token: token() }).apiVersion())).toEqual({
      code: 'SLURM_API_UNSUPPORTED',
      message: expect.stringContaining('offers v0.0.37; this plugin speaks v0.0.46') as string,
    });
  });
});

describe('answers that are not what they should be', () => {
  it('a job query answered by a proxy error page is not a missing job', async () => {
    const { url } = await serve((req) =>
      req.url === '/openapi/v3'
        ? spec(['/slurm/v0.0.41/ping'])
        : { status: 502, text: '<html>Bad Gateway</html>' },
    );
    const client = new SlurmClient({ url, token: token() });
    expect(await failure(client.job(5))).toEqual({
      code: 'SLURM_API_ERROR',
      message: 'slurmrestd answered a job query with HTTP 502 and no JSON: <html>Bad Gateway</html>',
    });
    client.close();
  });

  it('a job Slurm does not know is undefined only once the controller answers', async () => {
    let controllerUp = true;
    const { url } = await serve((req) => {
      if (req.url === '/openapi/v3') return spec(['/slurm/v0.0.41/ping']);
      if (req.url === '/slurm/v0.0.41/ping')
        return controllerUp
          ? { json: { pings: [{ hostname: 'ctl', pinged: 'UP', responding: true }], errors: [] } }
          : {
              status: 500,
              json: {
                errors: [
                  { error_number: 1001, error: 'Unable to contact slurm controller (connect failure)' },
                ],
              },
            };
      return {
        status: 500,
        json: {
          jobs: [],
          errors: [{ description: 'Unable to find JobId=5', error_number: -1, error: 'Unspecified error' }],
        },
      };
    });
    const client = new SlurmClient({ url, token: token() });
    expect(await client.job(5)).toBeUndefined();
    controllerUp = false;
    expect((await failure(client.job(5))).code).toBe('SLURM_CONTROLLER_UNAVAILABLE');
    client.close();
  });

  it('authentication: 401, an expired token before sending it, and a token function asked again', async () => {
    let accept = '';
    const { url, requests } = await serve((req) => {
      if (req.headers['x-slurm-user-token'] !== accept)
        return { status: 401, text: 'Authentication failure' };
      if (req.url === '/openapi/v3') return spec(['/slurm/v0.0.41/ping']);
      return { json: { pings: [{ hostname: 'ctl', pinged: 'UP' }], errors: [] } };
    });
    expect(await failure(new SlurmClient({ url, token: token() }).ping())).toMatchObject({
      code: 'SLURM_TOKEN_REJECTED',
    });
    const expired = await failure(new SlurmClient({ url, token: token(-10) }).ping());
    expect(expired).toMatchObject({
      code: 'SLURM_TOKEN_EXPIRED',
      message: expect.stringMatching(/expired at .*scontrol token/) as string,
    });
    const before = requests.length;
    // A function's stale token is replaced once slurmrestd refuses it.
    const fresh = token(3600);
    const stale = token(3000);
    accept = fresh;
    let calls = 0;
    const client = new SlurmClient({ url, token: () => (++calls === 1 ? stale : fresh) });
    expect((await client.ping()).controllers).toEqual([{ host: 'ctl', up: true }]);
    expect(calls).toBe(2);
    expect(requests.length - before).toBeGreaterThanOrEqual(3);
    // No token at all (an empty one is none) is said before anything is sent.
    expect(await failure(new SlurmClient({ url, token: '' }).ping())).toMatchObject({
      code: 'SLURM_TOKEN_MISSING',
    });
  });

  it('a server that does not answer in time, or hangs up', async () => {
    const slow = await serve(() => ({ delayMs: 2_000, json: {} }));
    expect(
      await failure(new SlurmClient({ url: slow.url, token: token(), requestTimeoutMs: 200 }).apiVersion()),
    ).toEqual({
      code: 'SLURM_UNREACHABLE',
      message: expect.stringContaining('no answer within 200 ms') as string,
    });
    const rude = http.createServer((req) => req.socket.destroy());
    servers.push(rude);
    await new Promise<void>((resolve) => rude.listen(0, '127.0.0.1', resolve));
    const port = (rude.address() as AddressInfo).port;
    expect(
      (await failure(new SlurmClient({ url: `http://127.0.0.1:${port}`, token: token() }).apiVersion())).code,
    ).toBe('SLURM_UNREACHABLE');
  });

  it('refuses addresses that cannot be slurmrestd', () => {
    expect(() => new SlurmClient({ url: 'ftp://x' })).toThrow(/scheme must be http, https or unix/);
    expect(() => new SlurmClient({ url: 'http://user:pw@x' })).toThrow(/credentials/);
    expect(() => new SlurmClient({ url: 'unix:' })).toThrow(/socket path/);
  });
});
