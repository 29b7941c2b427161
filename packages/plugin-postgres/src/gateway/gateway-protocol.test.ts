import { describe, expect, it } from 'vitest';
import { isPostgresError } from '../errors/postgres-error.js';
import {
  claimRequest,
  describeIssues,
  endRequest,
  outputRequest,
  startedRequest,
} from './gateway-protocol.js';
import { checkGatewayWorkerName, HttpWorkerQueue } from './http-worker-queue.js';

function problem(
  schema: { safeParse(value: unknown): { success: boolean; error?: unknown } },
  value: unknown,
) {
  const parsed = schema.safeParse(value);
  expect(parsed.success).toBe(false);
  return describeIssues(parsed.error as Parameters<typeof describeIssues>[0]);
}

describe('the gateway protocol', () => {
  it('names the field of a malformed request', () => {
    expect(problem(claimRequest, { worker: 'w', queues: ['q'], room: 'many', waitMs: 0 })).toMatch(/^room: /);
    expect(problem(claimRequest, { worker: 'w', queues: ['q'], room: 1, waitMs: 3_600_000 })).toMatch(
      /^waitMs: /,
    );
    expect(problem(claimRequest, { worker: 'a b', queues: [], room: 1, waitMs: 0 })).toMatch(/^worker: /);
    expect(problem(claimRequest, [])).toMatch(/^body: /);
    expect(problem(startedRequest, { id: 'j', token: 't', started: { host: 1 } })).toMatch(
      /^started\.host: /,
    );
    expect(
      problem(outputRequest, { id: 'j', token: 't', first: 1, chunks: [{ stream: 'stdout', data: '***' }] }),
    ).toMatch(/^chunks\.0\.data: /);
    expect(problem(outputRequest, { id: 'j', token: 't', first: 0, chunks: [] })).toMatch(
      /^first: .*; chunks: /,
    );
    expect(problem(endRequest, { id: 'j', token: 't', end: { kind: 'explode' } })).toMatch(/^end\.kind: /);
    expect(problem(endRequest, { id: 'j', token: 't', end: { kind: 'hand-back' }, extra: 1 })).toMatch(
      /extra/,
    );
  });

  it('accepts what a worker sends', () => {
    expect(
      endRequest.safeParse({
        id: 'j',
        token: 't',
        end: { kind: 'exit', exit: { type: 'exit', code: 0, signal: null, oomKilled: false } },
      }).success,
    ).toBe(true);
    expect(
      startedRequest.safeParse({
        id: 'j',
        token: 't',
        started: { host: 'h', worker: 'w', gpus: ['0'], pid: 12, process: { pid: 12, pgid: 12 } },
      }).success,
    ).toBe(true);
  });

  it('a worker takes only an https:// gateway address without credentials, and a one-word token', async () => {
    for (const url of ['http://gw:8443', 'https://user:pw@gw:8443', 'gw:8443', 'not a url']) {
      const error = await HttpWorkerQueue.open({ url, token: 'blg_x' }).catch((e: unknown) => e);
      expect(isPostgresError(error, 'POSTGRES_CONFIG_INVALID')).toBe(true);
      expect((error as Error).message).not.toContain('pw');
    }
    const spaced = await HttpWorkerQueue.open({ url: 'https://gw:8443', token: 'two words' }).catch(
      (e: unknown) => e,
    );
    expect(isPostgresError(spaced, 'POSTGRES_CONFIG_INVALID')).toBe(true);
    expect(() => checkGatewayWorkerName('gpu node')).toThrow(/worker name: expected/);
    expect(() => checkGatewayWorkerName('gpu-node-7:1234:ab12cd34')).not.toThrow();
  });
});
