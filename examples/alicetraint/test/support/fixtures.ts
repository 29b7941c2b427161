import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

/** The example's stand-in scripts. */
const STANDIN_SCRIPTS = fileURLToPath(new URL('../../scripts', import.meta.url));

/** A test folder with storage holding `count` AOD files, and their `AODFiles` entries. */
export function makeAods(count: number, size = 60_000): { dir: string; storage: string; aods: object[] } {
  const dir = mkdtempSync(join(tmpdir(), 'alice-agent-'));
  const storage = join(dir, 'storage');
  const aods = Array.from({ length: count }, (_, i) => {
    const path = `/alice/sim/2024/LHC24f3/0/52339${i}/AOD/001/AO2D.root`;
    mkdirSync(join(storage, path, '..'), { recursive: true });
    writeFileSync(join(storage, path), randomBytes(size));
    return {
      Name: 'AO2D.root',
      Path: path,
      Size: size,
      LHCPeriod: 'LHC24f3',
      RunNumber: 523390 + i,
      AODNumber: 1,
    };
  });
  return { dir, storage, aods };
}

/** The agent's environment for a test folder (stand-in stages, fast polls). */
export function agentEnv(
  dir: string,
  server: string,
  storage: string,
  machine: { id: number; secret: string },
  name = 'agent',
): Record<string, string> {
  return {
    MACHINE_ID: String(machine.id),
    MACHINE_SECRET_KEY: machine.secret,
    ALICETRAINT_BASE_URL: server,
    ALICETRAINT_DATA_DIR_PATH: join(dir, name, 'data'),
    ALICETRAINT_SCRIPTS_DIR_PATH: STANDIN_SCRIPTS,
    ALICETRAINT_VENV_DIR_PATH: join(dir, 'venv'),
    ALICETRAINT_RESULTS_DIR_PATH: join(dir, name, 'results'),
    ALICETRAINT_PDI_SRC_DIR_PATH: join(dir, 'pdi'),
    ALICETRAINT_POOLING_WAIT_SECONDS: '0.2',
    ALICETRAINT_STAGES: 'standin',
    ALICETRAINT_GRID_REPLICA_URLS: storage,
    ALICETRAINT_GRID_CACHE_DIR_PATH: join(dir, 'grid-cache'),
    ALICETRAINT_HEARTBEAT_SECONDS: '0.5',
  };
}
