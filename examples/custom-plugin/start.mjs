// Runs pipeline.yaml with the chat plugin and prints where its messages went.
//
//   CHAT_WEBHOOK_URL=https://chat.example/hooks/… npm start [-- --param fail=true]
//
// Without CHAT_WEBHOOK_URL the messages go to a webhook receiver on loopback that prints each one, so the
// example runs anywhere. DATA_TOKEN (the credential the training step uses) is redacted from every message.
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { createRuntime, loadPipelineFile, parseParamAssignments } from '@beamline/core';
import { createChatPlugin, RunNotifierToken } from '@beamline/example-custom-plugin';

const here = fileURLToPath(new URL('.', import.meta.url));
const pipelineFile = fileURLToPath(new URL('pipeline.yaml', import.meta.url));

/** A stand-in for Mattermost: prints each message it receives. */
async function printingReceiver() {
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const { text } = JSON.parse(body);
      process.stdout.write(`[chat] ${text.replaceAll('\n', '\n[chat] ')}\n`);
      res.end('ok');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { url: `http://127.0.0.1:${server.address().port}/hooks/local-demo-token`, server };
}

const args = process.argv.slice(2);
const assignments = args.flatMap((arg, i) => (args[i - 1] === '--param' ? [arg] : []));
const local = process.env.CHAT_WEBHOOK_URL ? undefined : await printingReceiver();
const dataToken = process.env.DATA_TOKEN ?? 'demo-data-token-5f2c9a';
process.env.DATA_TOKEN = dataToken;

const runtime = await createRuntime({
  cwd: process.env.BEAMLINE_CWD ?? here,
  plugins: [
    createChatPlugin({
      webhookUrl: process.env.CHAT_WEBHOOK_URL ?? local.url,
      username: 'beamline',
      longStepAfter: process.env.CHAT_LONG_STEP_AFTER ?? '1s',
      secrets: [dataToken],
    }),
  ],
});
runtime.events.on('warning', (event) => console.error(`warning (${event.source}): ${event.message}`));
let status = 'failed';
try {
  const pipeline = await loadPipelineFile(pipelineFile);
  const run = await runtime.runFile(pipelineFile, { params: parseParamAssignments(assignments, pipeline) });
  const notified = runtime.resolve(RunNotifierToken).watch(run);
  run.events.on('succeeded', (event) => console.log(`step ${event.stepId} succeeded`));
  run.events.on('failed', (event) => console.log(`step ${event.stepId} failed: ${event.error.code}`));
  ({ status } = await run.done);
  await notified;
  console.log(`run ${run.id} ${status}`);
} finally {
  await runtime.close();
  local?.server.close();
}
process.exitCode = status === 'succeeded' ? 0 : 1;
