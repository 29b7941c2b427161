import { mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAliceError } from '../errors/alice-error.js';
import { GO_MODULE_VARIABLES, loadAgentConfig } from './agent-config.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'alice-config-'));
  for (const d of ['scripts', 'venv', 'pdi']) mkdirSync(join(dir, d));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function goodEnv(): Record<string, string> {
  return {
    MACHINE_ID: '7',
    MACHINE_SECRET_KEY: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ=',
    ALICETRAINT_BASE_URL: 'http://localhost:8088/',
    ALICETRAINT_DATA_DIR_PATH: 'data',
    ALICETRAINT_SCRIPTS_DIR_PATH: 'scripts',
    ALICETRAINT_VENV_DIR_PATH: 'venv',
    ALICETRAINT_RESULTS_DIR_PATH: 'results',
    ALICETRAINT_PDI_SRC_DIR_PATH: 'pdi',
    ALICETRAINT_POOLING_WAIT_SECONDS: '20',
    ALICETRAINT_GRID_REPLICA_URLS: 'http://127.0.0.1:9000 root://se.example:1094/',
  };
}

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    expect(isAliceError(error, 'ALICE_CONFIG_INVALID')).toBe(true);
    return (error as { details: { problems: string[] } }).details.problems;
  }
  throw new Error('expected ALICE_CONFIG_INVALID');
}

describe('loadAgentConfig', () => {
  it('reads the Go module variables from the environment, resolving paths and creating data/results', () => {
    const config = loadAgentConfig({ env: goodEnv(), cwd: dir });
    expect(config).toMatchObject({
      machineId: '7',
      baseUrl: 'http://localhost:8088',
      dataDir: join(dir, 'data'),
      resultsDir: join(dir, 'results'),
      scriptsDir: join(dir, 'scripts'),
      pollWaitMs: 20_000,
      stages: 'pidml',
      gridCacheDir: join(dir, 'data', 'grid-cache'),
      replicaBaseUrls: ['http://127.0.0.1:9000', 'root://se.example:1094'],
    });
    expect(readdirSync(dir).sort()).toEqual(['data', 'pdi', 'results', 'scripts', 'venv']);
  });

  it('reads a .env file, and the environment wins over it (as godotenv.Load)', () => {
    const env = goodEnv();
    writeFileSync(
      join(dir, '.env'),
      Object.entries(env)
        .map(([k, v]) => `${k}="${v}"`)
        .join('\n') + '\n# a comment\n',
    );
    const config = loadAgentConfig({ env: { MACHINE_ID: '12' }, cwd: dir });
    expect(config.machineId).toBe('12');
    expect(config.secretKey).toBe(env.MACHINE_SECRET_KEY);
    expect(config.pollWaitMs).toBe(20_000);
  });

  it('names every missing variable at once', () => {
    const problems = problemsOf(() => loadAgentConfig({ env: {}, cwd: dir }));
    for (const name of GO_MODULE_VARIABLES) {
      expect(problems.some((p) => p.startsWith(`${name}: is not set`))).toBe(true);
    }
  });

  it('explains malformed values, naming the variable and where it came from, never quoting the secret', () => {
    writeFileSync(join(dir, 'file'), 'x');
    const env = {
      ...goodEnv(),
      MACHINE_ID: 'abc',
      MACHINE_SECRET_KEY: 'top secret',
      ALICETRAINT_BASE_URL: 'ftp://host',
      ALICETRAINT_SCRIPTS_DIR_PATH: 'missing',
      ALICETRAINT_RESULTS_DIR_PATH: 'file',
      ALICETRAINT_POOLING_WAIT_SECONDS: '20s',
      ALICETRAINT_STAGES: 'python',
    };
    let message = '';
    try {
      loadAgentConfig({ env, cwd: dir });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('7 problems');
    expect(message).toContain("MACHINE_ID (from environment): expected the machine's numeric id");
    expect(message).toContain('MACHINE_SECRET_KEY (from environment): character 4 of 10 is a space');
    expect(message).not.toContain('top secret');
    expect(message).toContain('ALICETRAINT_BASE_URL (from environment): expected an http:// or https:// URL');
    expect(message).toMatch(/ALICETRAINT_SCRIPTS_DIR_PATH .*missing.* does not exist/);
    expect(message).toMatch(/ALICETRAINT_RESULTS_DIR_PATH .*is not a folder/);
    expect(message).toContain(
      'ALICETRAINT_POOLING_WAIT_SECONDS (from environment): expected a number of seconds',
    );
    expect(message).toContain('ALICETRAINT_STAGES (from environment): expected one of pidml, standin');
  });

  it.each([
    ['MACHINE_ID', '-1'],
    ['MACHINE_ID', '18446744073709551616'],
    ['MACHINE_ID', ''],
    ['ALICETRAINT_BASE_URL', 'localhost:8088'],
    ['ALICETRAINT_BASE_URL', 'http://user:pw@host'],
    ['ALICETRAINT_BASE_URL', 'http://host/?a=1'],
    ['ALICETRAINT_POOLING_WAIT_SECONDS', '-5'],
    ['ALICETRAINT_POOLING_WAIT_SECONDS', 'Infinity'],
    ['ALICETRAINT_POOLING_WAIT_SECONDS', '90000'],
    ['ALICETRAINT_GRID_REPLICA_URLS', 'file:///etc'],
    ['ALICETRAINT_GPUS', '0;1'],
    ['ALICETRAINT_HEARTBEAT_SECONDS', '0'],
    ['ALICETRAINT_HEARTBEAT_SECONDS', 'often'],
    ['ALICETRAINT_VENV_DIR_PATH', 'nowhere'],
  ])('refuses %s=%j', (name, value) => {
    const problems = problemsOf(() => loadAgentConfig({ env: { ...goodEnv(), [name]: value }, cwd: dir }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${name} `));
  });

  it('accepts ids with leading zeros (the server parses 05 as 5) and fractional waits', () => {
    const config = loadAgentConfig({
      env: { ...goodEnv(), MACHINE_ID: '05', ALICETRAINT_POOLING_WAIT_SECONDS: '0.25' },
      cwd: dir,
    });
    expect(config.machineId).toBe('05');
    expect(config.pollWaitMs).toBe(250);
  });

  it('needs no venv, pdi or storage in mock mode, and no venv or pdi for the stand-in stages', () => {
    const env: Record<string, string> = {
      ...goodEnv(),
      ALICETRAINT_VENV_DIR_PATH: 'none',
      ALICETRAINT_PDI_SRC_DIR_PATH: 'none',
    };
    delete env.ALICETRAINT_GRID_REPLICA_URLS;
    expect(loadAgentConfig({ env, cwd: dir, mock: true }).replicaBaseUrls).toEqual([]);
    expect(
      problemsOf(() => loadAgentConfig({ env: { ...env, ALICETRAINT_STAGES: 'standin' }, cwd: dir })),
    ).toEqual([expect.stringMatching(/^ALICETRAINT_GRID_REPLICA_URLS: is not set/)]);
  });

  it('takes a stage image with a tag, and refuses an untagged or latest one, or an agent running as root', () => {
    expect(loadAgentConfig({ env: goodEnv(), cwd: dir }).stageImage).toBeUndefined();
    const env = { ...goodEnv(), ALICETRAINT_STAGE_IMAGE: 'registry.lab:5000/pidml/o2physics:2026-12' };
    expect(loadAgentConfig({ env, cwd: dir, uid: 1000 }).stageImage).toBe(
      'registry.lab:5000/pidml/o2physics:2026-12',
    );
    for (const image of ['o2physics', 'o2physics:latest']) {
      expect(
        problemsOf(() =>
          loadAgentConfig({ env: { ...goodEnv(), ALICETRAINT_STAGE_IMAGE: image }, cwd: dir, uid: 1000 }),
        ),
      ).toEqual([
        expect.stringMatching(
          /^ALICETRAINT_STAGE_IMAGE \(from environment\): image reference .*expected an image with a tag/,
        ),
      ]);
    }
    expect(problemsOf(() => loadAgentConfig({ env, cwd: dir, uid: 0 }))).toEqual([
      expect.stringMatching(
        /^ALICETRAINT_STAGE_IMAGE .*the agent runs as root.*run the agent as the user who owns those folders/,
      ),
    ]);
  });

  it('refuses a named .env file that cannot be read', () => {
    expect(() => loadAgentConfig({ env: goodEnv(), cwd: dir, envFile: 'nope.env' })).toThrow(
      /cannot read the \.env file .*nope\.env.*ENOENT/,
    );
  });
});
