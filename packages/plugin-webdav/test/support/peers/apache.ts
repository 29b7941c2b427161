import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon, type Daemon } from './daemon.js';
import { handFolderTo, isRoot } from './folders.js';
import { freePort } from './ports.js';
import { checkShareSpec, usersWith, type Access, type ShareSpec } from './share-spec.js';
import { htpasswdLine } from './tools.js';

const MODULES = '/usr/lib/apache2/modules';
const APACHE = '/usr/sbin/apache2';

/** Whether Apache httpd with mod_dav_fs is installed. */
export function hasApache(): boolean {
  return existsSync(APACHE) && existsSync(join(MODULES, 'mod_dav_fs.so'));
}

/** A running Apache mod_dav peer. */
export interface ApachePeer {
  /** `http://127.0.0.1:<port>` (mount paths are appended). */
  url: string;
  port: number;
  /** The parent httpd process (workers are its children). */
  pid: number;
  daemon: Daemon;
  /** The generated configuration file. */
  config: string;
  /** The error log (startup problems, denied requests). */
  errorLog: string;
  stop(): Promise<void>;
}

/** Options of {@link startApache}. */
export interface ApacheOptions {
  /** A scratch folder for the config, users file, lock database, logs (created if missing). */
  dir: string;
  /** Also write an access log (`<dir>/access.log`; off by default so the benchmark measures the server). */
  accessLog?: boolean;
  /**
   * `basic` (default) or `digest` (mod_auth_digest, MD5, qop=auth: what Windows uses over plain
   * HTTP). The realm is {@link APACHE_REALM} for every mount.
   */
  auth?: 'basic' | 'digest';
}

/** The realm of every mount's login (Basic and Digest). */
const APACHE_REALM = 'Beamline WebDAV';

/**
 * Starts Apache httpd 2.4 with mod_dav/mod_dav_fs in the foreground on a free loopback port, from a
 * generated config: every mount as an `Alias` with `Dav On`, a persistent lock database, Basic auth
 * against a users file ({SHA} hashes), `LimitRequestBody 0` (multi-GB PUT), mod_autoindex listings
 * (names, sizes, dates), sendfile, keep-alive and enough event-MPM threads for 200 concurrent clients.
 * Read/write rules: a mount readable by `anonymous` answers GET/HEAD/OPTIONS/PROPFIND without a login
 * and asks for one on every other method; otherwise reads need one of the reading users and writes one
 * of the writing users. As root, workers run as www-data and the mount folders are handed to it.
 */
export async function startApache(spec: ShareSpec, opts: ApacheOptions): Promise<ApachePeer> {
  checkShareSpec(spec);
  mkdirSync(opts.dir, { recursive: true });
  const usersFile = join(opts.dir, 'users');
  writeFileSync(usersFile, '');
  for (const [user, password] of Object.entries(spec.users)) {
    const line =
      opts.auth === 'digest'
        ? `${user}:${APACHE_REALM}:${createHash('md5').update(`${user}:${APACHE_REALM}:${password}`).digest('hex')}\n`
        : htpasswdLine(user, password);
    writeFileSync(usersFile, line, { flag: 'a' });
  }
  for (const m of spec.mounts) {
    mkdirSync(m.folder, { recursive: true });
    handFolderTo(m.folder);
  }
  handFolderTo(opts.dir);

  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const config = join(opts.dir, 'httpd.conf');
    writeFileSync(config, apacheConfig(spec, opts, port, usersFile));
    try {
      const daemon = await startDaemon('apache2', APACHE, ['-f', config, '-DFOREGROUND'], port, {
        cwd: opts.dir,
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' },
      });
      return {
        url: `http://127.0.0.1:${port}`,
        port,
        pid: daemon.pid,
        daemon,
        config,
        errorLog: join(opts.dir, 'error.log'),
        stop: () => daemon.stop('SIGTERM'),
      };
    } catch (e) {
      lastError = e;
      if (!/Address already in use|could not bind/i.test(String(e))) throw e;
    }
  }
  throw lastError;
}

function requireLine(spec: ShareSpec, access: Access): string {
  if (access === 'anonymous') return 'Require all granted';
  const users = usersWith(spec, access);
  return users.length === 0 ? 'Require all denied' : `Require user ${users.map(quote).join(' ')}`;
}

function quote(s: string): string {
  return `"${s.replace(/["\\]/g, '\\$&')}"`;
}

function apacheConfig(spec: ShareSpec, opts: ApacheOptions, port: number, usersFile: string): string {
  const d = opts.dir;
  const modules = [
    'mpm_event',
    'authn_core',
    'authn_file',
    'authz_core',
    'authz_user',
    'auth_basic',
    'auth_digest',
    'mime',
    'dir',
    'autoindex',
    'alias',
    'dav',
    'dav_fs',
    'setenvif',
    ...(opts.accessLog ? ['log_config'] : []),
  ];
  const reads = 'GET HEAD OPTIONS PROPFIND';
  const mounts = spec.mounts.map(
    (m) => `
Alias ${m.path} ${quote(m.folder)}
<Directory ${quote(m.folder)}>
  Dav On
  Options Indexes
  AllowOverride None
  DirectoryIndex disabled
  IndexOptions FancyIndexing HTMLTable NameWidth=* SuppressDescription Charset=UTF-8
  AuthType ${opts.auth === 'digest' ? 'Digest' : 'Basic'}
  AuthName ${quote(APACHE_REALM)}
  ${opts.auth === 'digest' ? 'AuthDigestProvider file' : 'AuthBasicProvider file'}
  AuthUserFile ${quote(usersFile)}
  <Limit ${reads}>
    ${requireLine(spec, m.read)}
  </Limit>
  <LimitExcept ${reads}>
    ${requireLine(spec, m.write === 'anonymous' ? 'users' : m.write)}
  </LimitExcept>
</Directory>`,
  );
  return `# generated by test/support/peers/apache.ts
ServerRoot ${quote(d)}
ServerName 127.0.0.1
Listen 127.0.0.1:${port}
PidFile ${quote(join(d, 'httpd.pid'))}
DefaultRuntimeDir ${quote(d)}
ErrorLog ${quote(join(d, 'error.log'))}
LogLevel warn
${modules.map((name) => `LoadModule ${name}_module ${MODULES}/mod_${name}.so`).join('\n')}
${isRoot() ? 'User www-data\nGroup www-data' : ''}
${opts.accessLog ? `LogFormat "%h %u \\"%r\\" %>s %B %D" dav\nCustomLog ${quote(join(d, 'access.log'))} dav` : ''}
TypesConfig /etc/mime.types
# As Debian's setenvif.conf: no trailing-slash redirect for WebDAV clients that cannot follow it
# (Windows renames a folder with MOVE on its path without the slash).
BrowserMatch "Microsoft Data Access Internet Publishing Provider" redirect-carefully
BrowserMatch "MS FrontPage" redirect-carefully
BrowserMatch "^WebDrive" redirect-carefully
BrowserMatch "^WebDAVFS/1.[01234]" redirect-carefully
BrowserMatch "^gnome-vfs/1.0" redirect-carefully
BrowserMatch "^XML Spy" redirect-carefully
BrowserMatch "^Dreamweaver-WebDAV-SCM1" redirect-carefully
BrowserMatch " Konqueror/4" redirect-carefully
BrowserMatch "Microsoft-WebDAV-MiniRedir" redirect-carefully
AddDefaultCharset Off
DavLockDB ${quote(join(d, 'DavLock'))}
LimitRequestBody 0
Timeout 600
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 30
EnableSendfile On
# 200 worker threads from the start (the benchmark's 200 concurrent clients), up to 400.
StartServers 8
ServerLimit 16
ThreadsPerChild 25
MaxRequestWorkers 400
MinSpareThreads 200
MaxSpareThreads 400
<Directory />
  AllowOverride None
  Require all denied
</Directory>
${mounts.join('\n')}
`;
}
