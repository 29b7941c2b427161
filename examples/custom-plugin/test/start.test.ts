import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startChatReceiver, type ChatReceiver } from './support/chat-receiver.js';

const exampleDir = fileURLToPath(new URL('..', import.meta.url));
const DATA_TOKEN = 'dt-7c1e55aa90';

let receiver: ChatReceiver;
let cwd: string;
beforeEach(async () => {
  receiver = await startChatReceiver();
  cwd = await mkdtemp(join(tmpdir(), 'beamline-chat-start-'));
});
afterEach(async () => {
  await receiver.close();
  await rm(cwd, { recursive: true, force: true });
});

/** `npm start`, on sources: the example's start script against the local receiver. */
function start(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'start.mjs', ...args], {
      cwd: exampleDir,
      env: {
        ...process.env,
        TSX_TSCONFIG_PATH: join(exampleDir, 'tsconfig.scripts.json'),
        CHAT_WEBHOOK_URL: receiver.url,
        CHAT_LONG_STEP_AFTER: '1s',
        BEAMLINE_CWD: cwd,
        DATA_TOKEN,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const texts = (): string[] => receiver.posts.map((post) => post.json?.text ?? '');

describe('the example pipeline (start.mjs, pipeline.yaml)', () => {
  it('posts the long training step, the report step and the success, in order', async () => {
    const { code, stdout, stderr } = await start();
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/run \S+ succeeded/);
    expect(texts()).toHaveLength(3);
    expect(texts()[0]).toMatch(/^:hourglass_flowing_sand: step `train` of \*\*nightly-train\*\*/);
    expect(texts()[1]).toBe('nightly-train: accuracy 0.93 on 1200 rows');
    expect(texts()[2]).toMatch(
      /^:white_check_mark: \*\*nightly-train\*\* .* succeeded in .*; steps: 3 succeeded$/,
    );
    expect(receiver.posts.every((post) => post.json?.username === 'beamline')).toBe(true);
  });

  it('posts a failure with the training error, the credential redacted', async () => {
    const { code, stdout } = await start('--param', 'fail=true', '--param', 'trainSeconds=0');
    expect(code).toBe(1);
    expect(stdout).toContain('step train failed: CORE_PROCESS_FAILED');
    expect(texts()).toHaveLength(1);
    const [text] = texts();
    expect(text).toMatch(/^:x: \*\*nightly-train\*\* .* failed after /);
    expect(text).toContain('- step `train` (attempt 1) CORE_PROCESS_FAILED:');
    expect(text).toContain('https://data.example/set.csv?token=*** (HTTP 403)');
    expect(text).not.toContain(DATA_TOKEN);
  });
});
