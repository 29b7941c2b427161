import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports.js';
import type { TestPki } from './pki.js';

/** The token the bearer port accepts. */
export const TEST_TOKEN = 'test-token-123';

/** Ports of one nginx instance (all on 127.0.0.1). */
interface NginxPorts {
  replicas: [number, number, number];
  bearer: number;
  slow: number;
  unavailable: number;
  unauthorized: number;
  wrong: number;
  tls: number | undefined;
}

export interface TestNginx {
  ports: NginxPorts;
  url(port: number, file: string, scheme?: 'http' | 'https'): string;
  stop(): Promise<void>;
}

/**
 * Starts an nginx of its own (daemon off, generated config in `dir`): three replicas of `dataDir`, a
 * bearer-token port, a slow port (`limit_rate`), a 503 port with Retry-After, a 401 port, a port serving
 * `wrongDir` (same names and sizes, other bytes) and, with a PKI, an HTTPS port requiring client certs.
 */
export async function startNginx(opts: {
  dir: string;
  dataDir: string;
  wrongDir?: string;
  pki?: TestPki;
  slowRate?: string;
}): Promise<TestNginx> {
  const p = async () => freePort();
  const ports: NginxPorts = {
    replicas: [await p(), await p(), await p()],
    bearer: await p(),
    slow: await p(),
    unavailable: await p(),
    unauthorized: await p(),
    wrong: await p(),
    tls: opts.pki ? await p() : undefined,
  };
  mkdirSync(join(opts.dir, 'tmp'), { recursive: true });
  const server = (port: number, body: string, extra = '') => `
    server {
      listen 127.0.0.1:${port}${extra};
      root ${opts.dataDir};
      ${body}
    }`;
  const conf = `
user root root;
worker_processes 2;
daemon off;
pid ${join(opts.dir, 'nginx.pid')};
error_log ${join(opts.dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  client_body_temp_path ${join(opts.dir, 'tmp')};
  proxy_temp_path ${join(opts.dir, 'tmp')};
  fastcgi_temp_path ${join(opts.dir, 'tmp')};
  uwsgi_temp_path ${join(opts.dir, 'tmp')};
  scgi_temp_path ${join(opts.dir, 'tmp')};
  default_type application/octet-stream;
  ${ports.replicas.map((port) => server(port, 'location / { }')).join('\n')}
  ${server(ports.bearer, `location / { if ($http_authorization != "Bearer ${TEST_TOKEN}") { return 401; } }`)}
  ${server(ports.slow, `location / { limit_rate ${opts.slowRate ?? '50k'}; }`)}
  ${server(ports.unavailable, 'location / { add_header Retry-After 1 always; return 503; }')}
  ${server(ports.unauthorized, 'location / { return 401; }')}
  ${opts.wrongDir ? `server { listen 127.0.0.1:${ports.wrong}; root ${opts.wrongDir}; location / { } }` : ''}
  ${
    opts.pki && ports.tls
      ? `server {
      listen 127.0.0.1:${ports.tls} ssl;
      root ${opts.dataDir};
      ssl_certificate ${opts.pki.serverCert};
      ssl_certificate_key ${opts.pki.serverKey};
      ssl_client_certificate ${opts.pki.caCert};
      ssl_verify_client on;
      location / { }
    }`
      : ''
  }
}
`;
  const confPath = join(opts.dir, 'nginx.conf');
  writeFileSync(confPath, conf);
  const child: ChildProcess = spawn(
    'nginx',
    ['-c', confPath, '-p', opts.dir, '-e', join(opts.dir, 'error.log')],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    await Promise.race([
      waitForPort(ports.replicas[0]),
      exited.then(() => {
        throw new Error(`nginx exited: ${stderr}`);
      }),
    ]);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  return {
    ports,
    url: (port, file, scheme = 'http') => `${scheme}://127.0.0.1:${port}/${file}`,
    stop: async () => {
      child.kill('SIGQUIT');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}
