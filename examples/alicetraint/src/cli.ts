import { parseDuration } from '@beamline/core';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AliceAgent } from './agent/agent.js';
import { loadAgentConfig } from './config/agent-config.js';
import { Coordinator } from './coordinator/coordinator.js';
import { AliceError, isAliceError } from './errors/alice-error.js';

const USAGE = `usage:
  beamline-alicetraint agent [--env-file PATH] [--mock] [--mock-sleep-ms N]
      The training-machine agent. Configuration: MACHINE_ID, MACHINE_SECRET_KEY, ALICETRAINT_BASE_URL,
      ALICETRAINT_{DATA,SCRIPTS,VENV,RESULTS,PDI_SRC}_DIR_PATH, ALICETRAINT_POOLING_WAIT_SECONDS
      (environment first, then .env), ALICETRAINT_GRID_REPLICA_URLS, optional ALICETRAINT_STAGES
      (pidml | standin), ALICETRAINT_GPUS, ALICETRAINT_HEARTBEAT_SECONDS, ALICETRAINT_GRID_CACHE_DIR_PATH. --mock: no grid, no
      stages; canned models and plots are uploaded (as the original's make mock).

  beamline-alicetraint coordinator serve [--dir DIR] [--host H] [--port N] [--lease 10m] [--max-claims 3]
                                         [--admin-token-file FILE]
                                         [--postgres postgres://…]
  beamline-alicetraint coordinator register-machine NAME [--dir DIR]    (prints the id and the secret, once)
  beamline-alicetraint coordinator add-task AODS.json [--config CONFIG.json] [--name NAME] [--dir DIR]
  beamline-alicetraint coordinator list [--dir DIR]
      The machine-facing API of the web interface with atomic claims, leases and a status transition
      table, on SQLite in DIR (default ./coordinator), or PostgreSQL with --postgres (results stay in DIR).

exit status: 0 stopped by SIGTERM/SIGINT, 2 bad configuration or arguments, 3 the server refused the
machine (401), 1 anything else.`;

/** The program: returns its exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  try {
    if (command === 'agent') return await agent(rest);
    if (command === 'coordinator') return await coordinator(rest);
    process.stderr.write(`beamline-alicetraint: unknown command ${JSON.stringify(command)}\n${USAGE}\n`);
    return 2;
  } catch (error) {
    process.stderr.write(`beamline-alicetraint ${command}: ${(error as Error).message}\n`);
    if (isAliceError(error, 'ALICE_CONFIG_INVALID')) return 2;
    if (isAliceError(error, 'ALICE_UNAUTHORIZED')) return 3;
    if (isAliceError(error, 'ALICE_COORDINATOR_INVALID')) return 2;
    if (String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')) return 2;
    return 1;
  }
}

async function agent(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      'env-file': { type: 'string' },
      mock: { type: 'boolean', default: false },
      'mock-sleep-ms': { type: 'string', default: '5000' },
    },
    strict: true,
    allowPositionals: false,
  });
  const mock = values.mock === true;
  const config = loadAgentConfig({
    ...(values['env-file'] !== undefined && { envFile: values['env-file'] }),
    mock,
  });
  const sleepMs = Number(values['mock-sleep-ms']);
  if (!Number.isInteger(sleepMs) || sleepMs < 0) {
    process.stderr.write(
      `beamline-alicetraint agent: --mock-sleep-ms: expected milliseconds, got ${values['mock-sleep-ms']}\n`,
    );
    return 2;
  }
  const agent = new AliceAgent({
    config,
    heartbeatMs: config.heartbeatMs,
    ...(mock && {
      mock: { uploadsDir: fileURLToPath(new URL('../mock_uploads', import.meta.url)), sleepMs },
    }),
    log: (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`),
  });
  const onSignal = (signal: NodeJS.Signals) => {
    process.stdout.write(
      `${new Date().toISOString()} ${signal}: stopping (a running task resumes at the next start)\n`,
    );
    agent.stop(`agent stopping (${signal})`);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    process.stdout.write(
      `${new Date().toISOString()} machine ${config.machineId} polling ${config.baseUrl} every ${config.pollWaitMs / 1000} s${mock ? ' (mock)' : ''}\n`,
    );
    await agent.run();
    return 0;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

async function coordinator(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      dir: { type: 'string', default: 'coordinator' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8088' },
      lease: { type: 'string', default: '10m' },
      'max-claims': { type: 'string', default: '3' },
      'admin-token-file': { type: 'string' },
      postgres: { type: 'string' },
      config: { type: 'string' },
      name: { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  const [sub, arg] = positionals;
  const invalid = (message: string) => new AliceError('ALICE_COORDINATOR_INVALID', message);
  const leaseMs = parseDuration(values.lease);
  if (leaseMs === undefined)
    throw invalid(`--lease: expected a duration such as 90s or 10m, got ${values.lease}`);
  const maxClaims = Number(values['max-claims']);
  const port = Number(values.port);
  if (!Number.isInteger(maxClaims) || maxClaims < 1)
    throw invalid(`--max-claims: expected a whole number ≥ 1, got ${values['max-claims']}`);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw invalid(`--port: expected 0–65535, got ${values.port}`);
  const adminToken =
    values['admin-token-file'] === undefined
      ? undefined
      : readFileSync(values['admin-token-file'], 'utf8').trim();
  if (adminToken === '') throw invalid(`--admin-token-file: ${values['admin-token-file']} is empty`);
  const coordinator = await Coordinator.open({
    dir: values.dir,
    leaseMs,
    maxClaims,
    ...(adminToken !== undefined && { adminToken }),
    ...(values.postgres !== undefined && { postgresUrl: values.postgres }),
  });
  const out = (line: string) => process.stdout.write(`${line}\n`);
  if (sub === 'register-machine') {
    if (arg === undefined || arg.trim() === '') throw invalid('register-machine: give the machine a name');
    const machine = await coordinator.registerMachine(arg.trim());
    out(`MACHINE_ID=${machine.id}`);
    out(`MACHINE_SECRET_KEY=${machine.secret}`);
    out('# the secret is shown only now; only its Argon2id hash is stored');
    await coordinator.stop();
    return 0;
  }
  if (sub === 'add-task') {
    if (arg === undefined) throw invalid('add-task: give the JSON file of the AODFiles list');
    const readJson = (file: string): unknown => {
      try {
        return JSON.parse(readFileSync(file, 'utf8'));
      } catch (error) {
        throw invalid(`${file}: ${(error as Error).message}`);
      }
    };
    const aods = readJson(arg);
    const list = Array.isArray(aods) ? aods : (aods as { AODFiles?: unknown } | null)?.AODFiles;
    const task = await coordinator.addTask({
      aodFiles: list,
      ...(values.config !== undefined && { configuration: readJson(values.config) }),
      ...(values.name !== undefined && { name: values.name }),
    });
    out(`task ${task.id} queued`);
    await coordinator.stop();
    return 0;
  }
  if (sub === 'list') {
    out(
      JSON.stringify(
        await Promise.all((await coordinator.store.tasks()).map((t) => coordinator.view(t))),
        null,
        2,
      ),
    );
    await coordinator.stop();
    return 0;
  }
  if (sub !== 'serve') throw invalid(`unknown coordinator command ${JSON.stringify(sub ?? '')}; see --help`);
  const url = await coordinator.start(port, values.host);
  out(`coordinator listening on ${url} (lease ${values.lease}, ${maxClaims} claims per task)`);
  await new Promise<void>((done) => {
    process.once('SIGTERM', () => done());
    process.once('SIGINT', () => done());
  });
  await coordinator.stop();
  return 0;
}
