import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AliceAgent } from './agent/agent.js';
import { loadAgentConfig } from './config/agent-config.js';
import { isAliceError } from './errors/alice-error.js';

const USAGE = `usage:
  beamline-alicetraint agent [--env-file PATH] [--mock] [--mock-sleep-ms N]
      The training-machine agent. Configuration: MACHINE_ID, MACHINE_SECRET_KEY, ALICETRAINT_BASE_URL,
      ALICETRAINT_{DATA,SCRIPTS,VENV,RESULTS,PDI_SRC}_DIR_PATH, ALICETRAINT_POOLING_WAIT_SECONDS
      (environment first, then .env), ALICETRAINT_GRID_REPLICA_URLS, optional ALICETRAINT_STAGES
      (pidml | standin), ALICETRAINT_GPUS, ALICETRAINT_HEARTBEAT_SECONDS, ALICETRAINT_GRID_CACHE_DIR_PATH. --mock: no grid, no
      stages; canned models and plots are uploaded (as the original's make mock).

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
    process.stderr.write(`beamline-alicetraint: unknown command ${JSON.stringify(command)}\n${USAGE}\n`);
    return 2;
  } catch (error) {
    process.stderr.write(`beamline-alicetraint ${command}: ${(error as Error).message}\n`);
    if (isAliceError(error, 'ALICE_CONFIG_INVALID')) return 2;
    if (isAliceError(error, 'ALICE_UNAUTHORIZED')) return 3;
    if ((error as { code?: unknown }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return 2;
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
