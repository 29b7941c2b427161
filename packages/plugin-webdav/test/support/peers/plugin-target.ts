import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { digestSecret, hashPassword } from '../../../src/config/password-hash.js';
import type { ShareConfigInput } from '../../../src/config/share-config.js';
import { startShare } from '../start-share.js';
import type { Access, ShareSpec } from './share-spec.js';
import { answers } from './answers.js';
import type { Target } from './target.js';

const REALM = 'Beamline WebDAV';

function principals(access: Access): string[] {
  if (access === 'anonymous') return ['anonymous'];
  if (access === 'users') return ['authenticated'];
  if (access === 'nobody') return [];
  return [...access];
}

/**
 * The plugin's shares configuration for a {@link ShareSpec}: one share per mount (rules as given,
 * `users` = any login), users with scrypt hashes (the lowest cost the plugin accepts, tests only) and
 * Digest secrets, state in `dir`.
 */
export async function pluginConfig(spec: ShareSpec, dir: string): Promise<ShareConfigInput> {
  const users: NonNullable<ShareConfigInput['users']> = {};
  for (const [name, password] of Object.entries(spec.users)) {
    users[name] = {
      password: await hashPassword(password, { logN: 10 }),
      digest: digestSecret(name, REALM, password),
    };
  }
  return {
    realm: REALM,
    stateDir: join(dir, 'state'),
    auth: { basic: true, digest: true },
    users,
    shares: spec.mounts.map((m) => ({
      path: m.path,
      root: m.folder,
      read: principals(m.read),
      write: principals(m.write),
    })),
  };
}

/** Starts the plugin's server (through `test/support/start-share.ts`) serving `spec`. */
export async function startPluginTarget(spec: ShareSpec, dir: string): Promise<Target> {
  mkdirSync(dir, { recursive: true });
  // In a child process (start-share's default): the server's pid is its own, and a crash cannot take
  // the test runner down.
  const server = await startShare(await pluginConfig(spec, dir));
  const url = server.url.replace(/\/+$/, '');
  return {
    kind: 'plugin',
    url,
    pid: server.pid,
    answers: () => answers(url),
    stop: () => server.stop(),
  };
}
