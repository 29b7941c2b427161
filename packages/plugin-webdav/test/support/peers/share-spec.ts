/**
 * One description of a WebDAV share layout that every server under test is started from: the plugin
 * (through `test/support/start-share.ts`), Apache mod_dav and nginx. Client tests and the benchmark
 * build one spec and run the same clients against each server.
 */

/** Who may read or write under a mount. */
export type Access = 'anonymous' | 'users' | 'nobody' | readonly string[];

/** One URL prefix served from one host folder. */
interface MountSpec {
  /** URL prefix, `/name` (no trailing slash), e.g. `/data`. */
  path: string;
  /** Absolute host folder. */
  folder: string;
  /** `anonymous`: everyone; `users`: every user of the spec; a list: those users. */
  read: Access;
  write: Access;
}

/** A server layout: mounts and users (plain passwords: the test's own fixture, hashed by each server). */
export interface ShareSpec {
  mounts: readonly MountSpec[];
  users: Readonly<Record<string, string>>;
}

/** The users a spec's access grants, resolved to names (anonymous grants everyone). */
export function usersWith(spec: ShareSpec, access: Access): string[] {
  if (access === 'anonymous' || access === 'users') return Object.keys(spec.users);
  if (access === 'nobody') return [];
  return [...access];
}

/** Throws when the spec cannot describe a real server (so a typo fails fast, naming the mount). */
export function checkShareSpec(spec: ShareSpec): void {
  const seen = new Set<string>();
  for (const m of spec.mounts) {
    if (!/^\/[A-Za-z0-9._-]+$/.test(m.path)) {
      throw new Error(`mount path ${JSON.stringify(m.path)}: expected "/name" (letters, digits, . _ -)`);
    }
    if (seen.has(m.path)) throw new Error(`mount path ${m.path} appears twice`);
    seen.add(m.path);
    if (!m.folder.startsWith('/'))
      throw new Error(`mount ${m.path}: folder must be absolute, got ${m.folder}`);
    for (const a of [m.read, m.write]) {
      if (typeof a === 'string') continue;
      for (const u of a) {
        if (!(u in spec.users)) throw new Error(`mount ${m.path}: unknown user ${JSON.stringify(u)}`);
      }
    }
  }
}
