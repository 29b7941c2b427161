import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isBeamlineError, parseDuration } from '@beamline/core';
import { challengePaths, runChallenge, submit } from './challenge.js';
import { writeLeaderboard } from './ranking/leaderboard.js';
import { startServer, type ServeOptions } from './server/serve.js';

const USAGE = `Usage: petric <command> [options]

Runs the PETRIC challenge on this machine (in the folder --root, default $PETRIC_ROOT or the current one).

Commands:
  submit --team T --version V (--image REF | --context DIR) [-- COMMAND...]
                      queue a submission (an image on this machine, or a folder with a Dockerfile built
                      into petric-<team>:<version>); without an image, COMMAND is a local program
  run [--budget 1h] [--hard-limit 2h] [--gpus 0,1] [--parallel N] [--repeat]
      [--dataset NAME]... [--team NAME]...
                      run every queued submission on every dataset (only what changed), then rank
  rank                write leaderboard/ (leaderboard.md, leaderboard.json, ranks.svg) from logs/
  serve [--host 127.0.0.1] [--port 8080] [--users users.json]
                      the challenge host on one port: /leaderboard, /data and /data-wip (WebDAV),
                      /logs (read-only); users.json: { "name": { "password": "$scrypt$…" } }

Options:
  --root DIR          the challenge folder
  -h, --help          this help
`;

function seconds(value: string, what: string): number {
  // A bare number would be milliseconds to parseDuration: a unit is required here.
  const ms = /[a-z]\s*$/i.test(value) ? parseDuration(value) : undefined;
  if (ms === undefined) {
    throw new Error(`${what} must be a duration with a unit (90s, 10m, 1h), got ${JSON.stringify(value)}`);
  }
  return ms / 1000;
}

/** Runs the `petric` program with `argv` (without node and the script); resolves to the exit code. */
export async function main(
  argv: string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '-h' || command === '--help') {
    out.write(USAGE);
    return command ? 0 : 2;
  }
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        root: { type: 'string' },
        team: { type: 'string', multiple: true },
        version: { type: 'string' },
        image: { type: 'string' },
        context: { type: 'string' },
        budget: { type: 'string' },
        'hard-limit': { type: 'string' },
        gpus: { type: 'string' },
        parallel: { type: 'string' },
        repeat: { type: 'boolean' },
        dataset: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
        host: { type: 'string' },
        port: { type: 'string' },
        users: { type: 'string' },
      },
    });
    if (values.help) {
      out.write(USAGE);
      return 0;
    }
    const root = resolve(values.root ?? process.env.PETRIC_ROOT ?? '.');
    switch (command) {
      case 'submit': {
        const team = values.team?.[0];
        if (!team || values.team!.length > 1 || !values.version)
          throw new Error('submit needs one --team and one --version');
        const s = await submit(root, {
          team,
          version: values.version,
          ...(values.image ? { image: values.image } : {}),
          ...(values.context ? { context: values.context } : {}),
          ...(positionals.length ? { command: positionals } : {}),
        });
        out.write(
          `queued ${s.team}/${s.version}${s.imageId ? ` (${s.imageRef}, ${s.imageId})` : ` (${s.command.join(' ')})`}\n`,
        );
        return 0;
      }
      case 'run': {
        if (positionals.length) throw new Error(`run takes no arguments, got ${positionals.join(' ')}`);
        const parallel = values.parallel === undefined ? undefined : Number(values.parallel);
        if (parallel !== undefined && !(Number.isInteger(parallel) && parallel > 0))
          throw new Error('--parallel must be a positive integer');
        const { runs, ranking } = await runChallenge(root, {
          ...(values.budget ? { budgetSeconds: seconds(values.budget, '--budget') } : {}),
          ...(values['hard-limit']
            ? { hardLimitSeconds: seconds(values['hard-limit'], '--hard-limit') }
            : {}),
          ...(values.gpus !== undefined ? { gpus: values.gpus.split(',').filter(Boolean) } : {}),
          ...(parallel ? { parallel } : {}),
          ...(values.repeat ? { repeat: true } : {}),
          ...(values.dataset ? { datasets: values.dataset } : {}),
          ...(values.team ? { teams: values.team } : {}),
          onLog: (line) => err.write(`${line}\n`),
        });
        for (const r of runs) {
          out.write(`run ${r.runId}: ${r.status}\n`);
          for (const [id, s] of Object.entries(r.steps)) {
            const o = s.outputs as { outcome?: string } | undefined;
            out.write(
              `  ${id}: ${s.status}${o?.outcome ? ` (${o.outcome})` : ''}${s.error ? `: ${s.error.message.split('\n')[0]}` : ''}\n`,
            );
          }
        }
        out.write(`leaderboard: ${challengePaths(root).leaderboard}\n`);
        for (const o of ranking.overall) out.write(`${o.position}) ${o.algorithm}\n`);
        return runs.every((r) => r.status === 'succeeded') ? 0 : 1;
      }
      case 'rank': {
        const paths = challengePaths(root);
        const { ranking, warnings } = await writeLeaderboard(paths.logs, paths.leaderboard);
        for (const w of warnings) err.write(`${w.path}: ${w.message}\n`);
        for (const o of ranking.overall) out.write(`${o.position}) ${o.algorithm}\n`);
        return 0;
      }
      case 'serve': {
        const port = values.port === undefined ? 8080 : Number(values.port);
        if (!(Number.isInteger(port) && port >= 0 && port < 65536))
          throw new Error('--port must be a port number');
        const users = values.users
          ? (JSON.parse(await readFile(values.users, 'utf8')) as ServeOptions['users'])
          : undefined;
        const server = await startServer(root, {
          port,
          ...(values.host ? { host: values.host } : {}),
          ...(users ? { users } : {}),
        });
        out.write(
          `serving ${server.url}/leaderboard, ${server.url}/data/, ${server.url}/data-wip/, ${server.url}/logs/\n`,
        );
        await new Promise<void>((done) => {
          const stop = () => void server.close().then(done);
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        return 0;
      }
      default:
        err.write(`petric: unknown command ${JSON.stringify(command)}\n${USAGE}`);
        return 2;
    }
  } catch (error) {
    err.write(`petric: ${isBeamlineError(error) ? `${error.code}: ` : ''}${(error as Error).message}\n`);
    return 1;
  }
}
