import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AliceClient } from '../../src/client/alice-client.js';
import { Coordinator } from '../../src/coordinator/coordinator.js';

const CHEAP = { memoryKiB: 1024, parallelism: 1, iterations: 1 };
const AOD = { Name: 'AO2D.root', Path: '/alice/sim/x/AO2D.root', Size: 10 };

let dir: string;
let coordinator: Coordinator;
let client: AliceClient;
let secret: string;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'alice-hostile-'));
  coordinator = await Coordinator.open({ dir, argon2: CHEAP, maxResultBytes: 64 * 1024 });
  await coordinator.start();
  const m = await coordinator.registerMachine('m');
  secret = m.secret;
  client = new AliceClient({ baseUrl: coordinator.url, machineId: String(m.id), secretKey: m.secret });
  await coordinator.addTask({ aodFiles: [AOD] });
  await coordinator.addTask({ aodFiles: [AOD] });
  await client.pollTask();
});
afterEach(async () => {
  await coordinator.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Sends raw bytes, optionally closing early; resolves with whatever came back. */
function raw(bytes: string | Buffer, closeAfterMs = 300): Promise<string> {
  const { port } = new URL(coordinator.url);
  return new Promise((done) => {
    const socket = connect(Number(port), '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => (answer += d.toString('latin1')));
    socket.on('error', () => done(answer));
    socket.on('close', () => done(answer));
    socket.write(bytes);
    setTimeout(() => socket.destroy(), closeAfterMs);
  });
}

describe('the coordinator under hostile requests', () => {
  it('answers each with a refusal and keeps serving', async () => {
    const results = `/training-tasks/1/training-task-results`;
    expect(await raw('GARBAGE\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    // A body cut short (Content-Length promises more) and a hung-up client.
    await raw(
      `POST ${results} HTTP/1.1\r\nHost: x\r\nSecret-Id: ${secret}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n`,
    );
    const post = (path: string, body: string | FormData, headers: Record<string, string> = {}) =>
      fetch(`${coordinator.url}${path}`, {
        method: 'POST',
        headers: { 'Secret-Id': secret, ...headers },
        body,
      }).then(async (r) => [r.status, (await r.text()).trim()] as const);
    expect(
      (await post(results, '--x\r\nnot multipart', { 'Content-Type': 'multipart/form-data; boundary=y' }))[0],
    ).toBe(422);
    expect((await post(results, 'plain', { 'Content-Type': 'text/plain' }))[0]).toBe(422);
    expect((await post('/training-tasks/1/status', '['.repeat(60_000)))[0]).toBe(422);
    expect((await post('/training-tasks/99999999999999999999/status', '{"Status":3}'))[0]).toBe(401);
    expect((await post('/training-tasks/1/status', 'x'.repeat(100_000)))[0]).toBe(413);
    const big = new FormData();
    big.set('file', new Blob([Buffer.alloc(70 * 1024)]), 'big.log');
    expect((await post(results, big))[0]).toBe(413);
    // A file name with a path: only its base name is kept, and the stored file stays in the results folder.
    const sneaky = new FormData();
    sneaky.set('file', new Blob(['x']), '../../../../etc/passwd');
    const [status, body] = await post(results, sneaky);
    expect(status).toBe(201);
    expect(JSON.parse(body)).toMatchObject({ FileName: 'passwd', Name: 'passwd' });
    expect(readdirSync(join(dir, 'results', '1'))).toHaveLength(1);
    // A machine's task route with another machine's secret, and a wrong method.
    expect((await post('/training-tasks/1/status', '{"Status":3}', { 'Secret-Id': 'nope' }))[0]).toBe(401);
    expect((await fetch(`${coordinator.url}/training-tasks/1/status`)).status).toBe(405);
    // Still serving.
    expect((await client.pollTask())?.ID).toBe(2);
  });
});
