import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createRuntime,
  MemoryStore,
  type PipelineDefinition,
  type Runtime,
  type RuntimeEvent,
} from '@beamline/core';
import { startChatReceiver, status, type ChatReceiver } from '../../test/support/chat-receiver.js';
import { isChatError } from '../errors/chat-error.js';
import { RunNotifierToken, WebhookClientToken } from '../tokens.js';
import { createChatPlugin, type ChatPluginOptions } from './create-chat-plugin.js';

let receiver: ChatReceiver;
let cwd: string;
let runtime: Runtime | undefined;
const warnings: RuntimeEvent[] = [];

beforeEach(async () => {
  receiver = await startChatReceiver();
  cwd = await mkdtemp(join(tmpdir(), 'beamline-chat-'));
  warnings.length = 0;
});
afterEach(async () => {
  await runtime?.close();
  runtime = undefined;
  await receiver.close();
  await rm(cwd, { recursive: true, force: true });
});

async function start(options: Partial<ChatPluginOptions> = {}): Promise<Runtime> {
  runtime = await createRuntime({
    cwd,
    store: new MemoryStore(),
    plugins: [
      createChatPlugin({
        webhookUrl: receiver.url,
        retry: { attempts: 2, initialDelayMs: 10 },
        secrets: ['tok-9f8e7d6c'],
        ...options,
      }),
    ],
  });
  runtime.events.on('warning', (event) => warnings.push(event));
  return runtime;
}

/** Runs a pipeline with the notifier watching; resolves once its messages went out. */
async function runWatched(rt: Runtime, pipeline: PipelineDefinition): Promise<string> {
  const run = await rt.run(pipeline);
  const notified = rt.resolve(RunNotifierToken).watch(run);
  const { status: result } = await run.done;
  await notified;
  return result;
}

const texts = (): string[] => receiver.posts.map((post) => post.json?.text ?? '');

describe('createChatPlugin', () => {
  it('posts a success with the step counts', async () => {
    const rt = await start();
    const result = await runWatched(rt, {
      name: 'nightly',
      steps: {
        a: { uses: 'exec', with: { command: 'true' } },
        b: { uses: 'exec', with: { command: 'echo b' } },
      },
    });
    expect(result).toBe('succeeded');
    expect(texts()).toHaveLength(1);
    expect(texts()[0]).toMatch(
      /^:white_check_mark: \*\*nightly\*\* \(run `[^`]+`\) succeeded in .*; steps: 2 succeeded$/,
    );
  });

  it('posts a failure with the failed step and its error, secrets redacted, mentions made literal', async () => {
    const rt = await start({ notifyOn: { success: false } });
    const result = await runWatched(rt, {
      name: 'nightly',
      steps: {
        fetch: {
          uses: 'exec',
          with: {
            command:
              'echo "GET https://u:pw@data.example/x?token=tok-9f8e7d6c failed <!channel> @here" >&2; exit 3',
          },
        },
        after: { uses: 'exec', with: { command: 'true' } },
      },
    });
    expect(result).toBe('failed');
    const [text] = await receiver.waitFor(1).then(() => texts());
    expect(text).toMatch(/^:x: \*\*nightly\*\* \(run `[^`]+`\) failed after /);
    expect(text).toContain('steps: 1 failed, 1 cancelled');
    expect(text).toContain('- step `fetch` (attempt 1) CORE_PROCESS_FAILED:');
    expect(text).toContain('https://***@data.example/x?token=***');
    expect(text).toContain('&lt;!channel&gt; @\u200bhere');
    expect(text).not.toContain('tok-9f8e7d6c');
    expect(text).not.toContain(':pw@');
    expect(texts()).toHaveLength(1);
  });

  it('posts a step that runs longer than longStepAfter, once, and the cancellation', async () => {
    const rt = await start({ longStepAfter: '200ms' });
    const run = await rt.run({
      name: 'slow',
      steps: { train: { uses: 'exec', with: { command: 'sleep 30' } } },
    });
    const notified = rt.resolve(RunNotifierToken).watch(run);
    await receiver.waitFor(1);
    run.cancel('operator stopped it');
    expect((await run.done).status).toBe('cancelled');
    await notified;
    expect(texts()).toHaveLength(2);
    expect(texts()[0]).toMatch(
      /^:hourglass_flowing_sand: step `train` of \*\*slow\*\* .* has been running for .* \(attempt 1\)$/,
    );
    expect(texts()[1]).toMatch(/^:no_entry_sign: \*\*slow\*\* .* was cancelled after .*operator stopped it/);
  });

  it('runs `uses: chat.post` from a pipeline, escaping what a program printed', async () => {
    const rt = await start({ notifyOn: { success: false } });
    const run = await rt.run({
      name: 'report',
      steps: {
        score: { uses: 'exec', with: { command: 'echo "::output note=<!here> 0.93 & rising"' } },
        post: { uses: 'chat.post', with: { text: 'accuracy: ${{ steps.score.outputs.note }}' } },
      },
    });
    const result = await run.done;
    expect(result.status).toBe('succeeded');
    expect(result.steps.post?.outputs).toEqual({ attempts: 1 });
    expect(texts()).toEqual(['accuracy: &lt;!here&gt; 0.93 &amp; rising']);
  });

  it('fails a chat.post step whose webhook refuses, naming the code; the run goes on elsewhere', async () => {
    receiver.script(status(404, 'no_service'));
    const rt = await start({ notifyOn: { success: false, failure: false } });
    const run = await rt.run({
      name: 'report',
      steps: { post: { uses: 'chat.post', with: { text: 'hi' } } },
    });
    const result = await run.done;
    expect(result.status).toBe('failed');
    expect(result.steps.post?.error?.code).toBe('CHAT_WEBHOOK_REJECTED');
    expect(result.steps.post?.error?.message).not.toContain('hook-0123456789abcdef');
  });

  it('refuses chat.post parameters with the pipeline error form, before the run starts', async () => {
    const rt = await start();
    await expect(
      rt.run({ name: 'report', steps: { post: { uses: 'chat.post', with: { text: 'hi', txet: 'typo' } } } }),
    ).rejects.toMatchObject({ code: 'CORE_PARAMS_INVALID' });
    expect(receiver.posts).toHaveLength(0);
  });

  it('reports an undeliverable notification as a runtime warning; the run is not affected', async () => {
    receiver.script(status(500), status(500));
    const rt = await start();
    const result = await runWatched(rt, {
      name: 'quiet',
      steps: { a: { uses: 'exec', with: { command: 'true' } } },
    });
    expect(result).toBe('succeeded');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ source: 'chat.notifier', level: 'warning' });
    expect(warnings[0]?.message).toMatch(
      /could not post the notification of run .* after 2 attempt\(s\): .*HTTP 500/,
    );
    expect(warnings[0]?.message).not.toContain('hook-0123456789abcdef');
  });

  it('delivers what is queued when the runtime closes, and refuses to watch afterwards', async () => {
    const rt = await start();
    const run = await rt.run({
      name: 'closing',
      steps: { a: { uses: 'exec', with: { command: 'sleep 30' } } },
    });
    const notified = rt.resolve(RunNotifierToken).watch(run);
    const notifier = rt.resolve(RunNotifierToken);
    await rt.close();
    runtime = undefined;
    await notified;
    expect(texts()).toHaveLength(1);
    expect(texts()[0]).toContain('was cancelled');
    await expect(notifier.watch(run)).rejects.toSatisfy((error) =>
      isChatError(error, 'CHAT_NOTIFIER_CLOSED'),
    );
  });

  it('posts once for a run watched twice', async () => {
    const rt = await start();
    const run = await rt.run({
      name: 'twice',
      steps: { a: { uses: 'exec', with: { command: 'echo twice' } } },
    });
    const notifier = rt.resolve(RunNotifierToken);
    const first = notifier.watch(run);
    expect(notifier.watch(run)).toBe(first);
    await run.done;
    await first;
    expect(texts()).toHaveLength(1);
  });

  it('gives other plugins and applications the webhook client', async () => {
    const rt = await start();
    await rt.resolve(WebhookClientToken).post('from the application');
    expect(texts()).toEqual(['from the application']);
  });

  it('refuses bad options with CHAT_CONFIG_INVALID, never echoing the URL', () => {
    const bad: [Partial<ChatPluginOptions>, RegExp][] = [
      [
        { webhookUrl: 'hooks.example/abc-secret' },
        /webhookUrl: expected an http\(s\) URL, got text that is not a URL/,
      ],
      [
        { webhookUrl: 'ftp://chat.example/abc-secret' },
        /webhookUrl: expected an http\(s\) URL, got a ftp: URL/,
      ],
      [
        { webhookUrl: 'https://bot:abc-secret@chat.example/hooks/x' },
        /webhookUrl: expected a URL without user:password@/,
      ],
      [{ longStepAfter: 'soon' }, /longStepAfter: expected a duration .* got "soon"/],
      [{ timeout: -1 }, /timeout: expected a duration/],
      [{ retry: { attempts: 0 } }, /retry.attempts: expected a whole number from 1 to 20, got number/],
      [{ retry: { initialDelayMs: Number.NaN } }, /retry.initialDelayMs: expected a number ≥ 0/],
      [{ secrets: ['abc'] }, /secrets\[0\]: expected a string of at least 6 characters, got a shorter value/],
      [{ username: '  ' }, /username: expected a non-empty string/],
    ];
    for (const [options, message] of bad) {
      let thrown: unknown;
      try {
        createChatPlugin({ webhookUrl: 'https://chat.example/hooks/x', ...options });
      } catch (error) {
        thrown = error;
      }
      expect(isChatError(thrown, 'CHAT_CONFIG_INVALID')).toBe(true);
      expect((thrown as Error).message).toMatch(message);
      expect((thrown as Error).message).not.toContain('abc-secret');
    }
  });
});
