import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { digestSecret, hashPassword, hashToken } from '../../src/config/password-hash.js';
import type { ShareConfigInput } from '../../src/config/share-config.js';

/** The users of the security fixture, with passwords Basic parsers get wrong. */
export const USERS = {
  /** Writes both shares; `:`, `+` and `/` in the password. */
  writer: 'pa:ss+w/rd',
  /** Reads both shares, writes nothing. */
  reader: 'read-only-pw',
  /** base64 of `plus:>>>?` is `cGx1czo+Pj4/`: `+` and `/` in the encoded credentials. */
  plus: '>>>?',
  /** Non-ASCII name and password. */
  ümlaut: 'pässwörd',
} as const;

/** A bearer token of the fixture (principal name `ci`). */
export const TOKEN = 'tok-3f9a1c7e5b2d4806a9c1e7f3b5d2a4c6';
export const REALM = 'Beamline test';

/** `Basic …` header value. */
export function basic(user: keyof typeof USERS): string {
  return `Basic ${Buffer.from(`${user}:${USERS[user]}`, 'utf8').toString('base64')}`;
}

/** The PETRIC-like tree every security test uses. */
export interface SecurityFixture {
  readonly root: string;
  readonly data: string;
  readonly wip: string;
  /** A folder outside every share, one level above them (links may reach it). */
  readonly sibling: string;
  /** A folder two levels up: no link may reach it. */
  readonly outside: string;
  readonly config: ShareConfigInput;
  cleanup(): void;
}

/**
 * `root/share-public/{petric,petric-wip,sibling}` served as `/data` (anonymous read, writer writes),
 * `/data-wip` (logins read, writer writes); links in `/data`: `escape -> /etc` (absolute),
 * `rel_wip -> ../petric-wip` (into the other share), `up2 -> ../../outside` (two levels up),
 * `sib -> ../sibling` (one level up, allowed), `chain -> chain2`, `chain2 -> ../../outside` (chained),
 * `inside -> sub` (relative, inside).
 */
export async function securityFixture(
  options: { nonceLifetime?: string; throttle?: { failures: number; window: string; block: string } } = {},
): Promise<SecurityFixture> {
  const root = mkdtempSync(join(tmpdir(), 'webdav-security-'));
  const publicDir = join(root, 'share-public');
  const data = join(publicDir, 'petric');
  const wip = join(publicDir, 'petric-wip');
  const sibling = join(publicDir, 'sibling');
  const outside = join(root, 'outside');
  for (const dir of [data, wip, sibling, outside, join(data, 'sub')]) mkdirSync(dir, { recursive: true });
  writeFileSync(join(data, 'file.txt'), 'public data\n');
  writeFileSync(join(data, 'sub', 'inner.txt'), 'inner\n');
  writeFileSync(join(wip, 'secret.txt'), 'work in progress\n');
  writeFileSync(join(sibling, 'shared.txt'), 'one level up\n');
  writeFileSync(join(outside, 'private.txt'), 'two levels up: never served\n');
  symlinkSync('/etc', join(data, 'escape'));
  symlinkSync('../petric-wip', join(data, 'rel_wip'));
  symlinkSync('../../outside', join(data, 'up2'));
  symlinkSync('../sibling', join(data, 'sib'));
  symlinkSync('chain2', join(data, 'chain'));
  symlinkSync('../../outside', join(data, 'chain2'));
  symlinkSync('sub', join(data, 'inside'));
  symlinkSync(join(data, 'sub'), join(data, 'abs_inside'));
  const users: NonNullable<ShareConfigInput['users']> = {};
  for (const [name, password] of Object.entries(USERS))
    users[name] = {
      password: await hashPassword(password, { logN: 10 }),
      digest: digestSecret(name, REALM, password),
    };
  const config: ShareConfigInput = {
    realm: REALM,
    auth: {
      basic: true,
      digest: true,
      ...(options.nonceLifetime !== undefined && { nonceLifetime: options.nonceLifetime }),
      throttle: options.throttle ?? { failures: 1000, window: '1m', block: '1m' },
    },
    users,
    tokens: { ci: { sha256: hashToken(TOKEN) } },
    groups: { writers: ['writer', 'ci'] },
    shares: [
      { path: '/data', root: data, read: ['anonymous'], write: ['@writers'], symlinks: 'one-level-up' },
      {
        path: '/data-wip',
        root: wip,
        read: ['authenticated'],
        write: ['@writers'],
        symlinks: 'one-level-up',
      },
    ],
  };
  return {
    root,
    data,
    wip,
    sibling,
    outside,
    config,
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}
