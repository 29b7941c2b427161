#!/usr/bin/env node
// `npm start`: the whole PETRIC challenge on this machine in a few minutes on the CPU. Generates two
// small phantom datasets, queues a fast and a slow demo submission (in a container built from this
// machine's node binary when a Docker engine answers, as local processes otherwise), runs them under the
// challenge's budget rules, prints the leaderboard and serves the challenge host (Ctrl-C stops it).
//   --no-serve          stop after the leaderboard
//   PETRIC_ROOT         the challenge folder (default: ./demo-challenge)
//   PETRIC_DEMO_BUDGET  budget per submission and dataset, seconds (default 30)
//   PETRIC_DEMO_DOCKER  0: local processes even where Docker answers
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  connectDocker,
  makePhantom,
  runChallenge,
  startServer,
  submit,
  writeDemoDataset,
} from './dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = process.env.PETRIC_ROOT ?? join(here, 'demo-challenge');
const budgetSeconds = Number(process.env.PETRIC_DEMO_BUDGET ?? 30);
const log = (line) => console.log(`[petric demo] ${line}`);

for (const [name, options] of [
  ['nema', { dims: [24, 24, 8], contrast: 4 }],
  ['hoffman', { dims: [20, 20, 6], contrast: 3 }],
]) {
  const dir = join(root, 'data', name);
  if (!existsSync(join(dir, 'measured.hv'))) {
    await writeDemoDataset(dir, makePhantom(options));
    log(`dataset ${name}: ${options.dims.join('×')} phantom written to ${dir}`);
  }
}

const docker = process.env.PETRIC_DEMO_DOCKER === '0' ? undefined : await connectDocker();
for (const mode of ['fast', 'slow']) {
  if (docker) {
    const image = execFileSync('bash', [join(here, 'scripts', 'build-demo-image.sh')], {
      encoding: 'utf8',
    }).trim();
    await submit(root, {
      team: mode,
      version: 'v1',
      image,
      command: ['/usr/local/bin/node', '/submission/run.mjs', mode],
      docker,
    });
  } else {
    await submit(root, {
      team: mode,
      version: 'v1',
      command: [process.execPath, join(here, 'scripts', 'demo-submission.mjs'), mode],
    });
  }
}
log(
  `submissions queued (${docker ? 'in Docker containers' : 'as local processes: no Docker engine'}); budget ${budgetSeconds} s each`,
);

const { runs } = await runChallenge(root, {
  budgetSeconds,
  hardLimitSeconds: budgetSeconds * 4 + 60,
  docker: docker ?? null,
  onLog: (line) => log(line),
});
for (const run of runs) {
  for (const [id, step] of Object.entries(run.steps)) {
    log(
      `${id}: ${step.status}${step.outputs?.outcome ? ` (${step.outputs.outcome}, ${step.outputs.evaluations} evaluations)` : ''}`,
    );
  }
}
console.log('\n' + readFileSync(join(root, 'leaderboard', 'leaderboard.md'), 'utf8'));
log(`TensorBoard: tensorboard --logdir ${join(root, 'logs')}`);

if (!process.argv.includes('--no-serve')) {
  const server = await startServer(root, { port: Number(process.env.PORT ?? 8080) });
  log(`serving ${server.url}/leaderboard, ${server.url}/data/, ${server.url}/logs/ (Ctrl-C stops)`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
