import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports.js';

export interface TestXrootd {
  rootPort: number;
  httpPort: number;
  stop(): Promise<void>;
}

/**
 * Starts Debian's xrootd 5.5.3 serving `dataDir` over root:// and XrdHttp, with adler32 checksums.
 * xrootd refuses to run as root, so it drops to `nobody` (`-R`), which must be able to write its
 * admin/log directory and read the data.
 */
export async function startXrootd(dir: string, dataDir: string): Promise<TestXrootd> {
  const rootPort = await freePort();
  const httpPort = await freePort();
  const admin = join(dir, 'xrd');
  mkdirSync(admin, { recursive: true });
  const conf = `all.export /
oss.localroot ${dataDir}
xrd.port ${rootPort}
all.adminpath ${admin}
all.pidpath ${admin}
xrootd.chksum adler32
xrd.protocol XrdHttp:${httpPort} libXrdHttp.so
`;
  const confPath = join(admin, 'xrootd.cfg');
  writeFileSync(confPath, conf);
  const nobody = 65534;
  chownSync(admin, nobody, nobody);
  const child: ChildProcess = spawn(
    'xrootd',
    ['-c', confPath, '-l', join(admin, 'xrootd.log'), '-R', 'nobody', '-n', 'test'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: admin,
    },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    await Promise.race([
      Promise.all([waitForPort(rootPort), waitForPort(httpPort)]),
      exited.then(() => {
        throw new Error(`xrootd exited: ${out}`);
      }),
    ]);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  return {
    rootPort,
    httpPort,
    stop: async () => {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}
