import { isAbsolute, resolve } from 'node:path';
import { parseDuration, parseMemory, quoteText } from '@beamline/core';
import type { z } from 'zod';
import { WebdavError } from '../errors/webdav-error.js';
import { parseScryptHash } from './password-hash.js';
import {
  shareConfigSchema,
  type ShareConfig,
  type ShareConfigInput,
  type ShareSettings,
  type UserSettings,
} from './share-config.js';

/** A place in the configuration, as a list of keys and indexes. */
export type ConfigPath = readonly (string | number)[];

/** Says where a configuration path is in its source text (`file:line:col`), when known. */
export type ConfigLocator = (path: ConfigPath) => string | undefined;

/** One problem in a configuration. */
interface ConfigIssue {
  readonly path: ConfigPath;
  readonly message: string;
}

/** Options of {@link resolveShareConfig}. */
export interface ResolveShareConfigOptions {
  /** Folder relative paths are resolved against (the configuration file's folder). Default `process.cwd()`. */
  baseDir?: string;
  /** Name of the source, for messages (`shares.yaml`). */
  source?: string;
  /** Turns a configuration path into `file:line:col`. */
  locate?: ConfigLocator;
}

const RESERVED_PRINCIPALS = new Set(['anonymous', 'authenticated']);
const NAME = /^[\p{L}\p{N}._@+-]{1,64}$/u;
// eslint-disable-next-line no-control-regex
const SEGMENT_FORBIDDEN = /[\u0000-\u001f\u007f\\/]/;
const MAX_ISSUES = 20;

/** `shares[0].read[1]` */
function formatConfigPath(path: ConfigPath): string {
  let text = '';
  for (const part of path) text += typeof part === 'number' ? `[${part}]` : text ? `.${part}` : part;
  return text || '(top level)';
}

/**
 * Validates a shares configuration and resolves it into what the server runs on: relative folders made
 * absolute, sizes in bytes, durations in milliseconds, principals checked against the users, tokens and
 * groups it declares. Every problem is reported at once, each with its place (`shares.yaml:7:11
 * shares[0].read[1]: …`); secrets are never quoted.
 *
 * @throws WebdavError `WEBDAV_CONFIG_INVALID`
 */
export function resolveShareConfig(input: unknown, options: ResolveShareConfigOptions = {}): ShareConfig {
  const baseDir = options.baseDir ?? process.cwd();
  const parsed = shareConfigSchema.safeParse(input);
  if (!parsed.success) throw configError(zodIssues(parsed.error, input), options);
  const issues: ConfigIssue[] = [];
  const config = check(parsed.data, baseDir, issues);
  if (issues.length > 0) throw configError(issues, options);
  return config;
}

function configError(issues: readonly ConfigIssue[], options: ResolveShareConfigOptions): WebdavError {
  const lines = issues.slice(0, MAX_ISSUES).map((issue) => {
    const where = options.locate?.(issue.path) ?? options.source;
    return `${where ? `${where} ` : ''}${formatConfigPath(issue.path)}: ${issue.message}`;
  });
  if (issues.length > MAX_ISSUES) lines.push(`… and ${issues.length - MAX_ISSUES} more`);
  const source = options.source ?? 'the shares configuration';
  return new WebdavError('WEBDAV_CONFIG_INVALID', `${source} is invalid:\n  ${lines.join('\n  ')}`, {
    details: {
      issues: issues.map((issue) => ({ path: formatConfigPath(issue.path), message: issue.message })),
    },
  });
}

function zodIssues(error: z.ZodError, input: unknown): ConfigIssue[] {
  return error.issues.map((issue) => {
    const path = issue.path.filter((part): part is string | number => typeof part !== 'symbol');
    let message = issue.message;
    if (issue.code === 'unrecognized_keys')
      message = `unknown key(s) ${issue.keys.map((k) => quoteText(k)).join(', ')}`;
    else if (issue.code === 'invalid_type') {
      const found = valueAt(input, path);
      message = `expected ${issue.expected}, got ${found === undefined ? 'nothing' : describe(found)}`;
    } else if (issue.code === 'invalid_value')
      message = `expected one of ${issue.values.map(String).join(', ')}`;
    return { path, message };
  });
}

function valueAt(value: unknown, path: ConfigPath): unknown {
  let current = value;
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = Object.hasOwn(current, part) ? (current as Record<string | number, unknown>)[part] : undefined;
  }
  return current;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the string ${quoteText(value, 40)}`;
  return `${typeof value} ${JSON.stringify(value) ?? ''}`;
}

type Parsed = z.output<typeof shareConfigSchema>;

function check(data: Parsed, baseDir: string, issues: ConfigIssue[]): ShareConfig {
  const absolute = (path: string): string => (isAbsolute(path) ? path : resolve(baseDir, path));
  const bytes = (value: string | number | undefined, path: ConfigPath): number | undefined => {
    if (value === undefined) return undefined;
    const mib = parseMemory(value);
    if (mib === undefined || mib <= 0) {
      issues.push({
        path,
        message: `expected a size like "500g", "20m" or a number of MiB, got ${describe(value)}`,
      });
      return undefined;
    }
    return mib * 1024 * 1024;
  };
  const ms = (value: string | number, path: ConfigPath): number => {
    const result = parseDuration(value);
    if (result === undefined || result <= 0) {
      issues.push({ path, message: `expected a duration like "5m", "90s" or "1h", got ${describe(value)}` });
      return 1;
    }
    return result;
  };

  const users = new Map<string, UserSettings>();
  for (const [name, user] of Object.entries(data.users)) {
    const path = ['users', name];
    if (!NAME.test(name) || RESERVED_PRINCIPALS.has(name) || name.startsWith('@'))
      issues.push({
        path,
        message: `a user name is 1-64 letters, digits or . _ @ + - (not starting with @, not "anonymous" or "authenticated"), got ${quoteText(name)}`,
      });
    if (user.password === undefined && user.digest === undefined)
      issues.push({
        path,
        message: 'expected a password hash (password: $scrypt$…) or a Digest secret (digest: <32 hex>)',
      });
    if (user.password !== undefined && !parseScryptHash(user.password)) {
      const looksHashed = user.password.startsWith('$');
      issues.push({
        path: [...path, 'password'],
        message: looksHashed
          ? user.password.startsWith('$argon2')
            ? 'argon2 hashes need a newer Node.js than this one; expected a scrypt hash ($scrypt$ln=…,r=…,p=…$salt$hash), made by hashPassword() of @beamline/plugin-webdav (see its README)'
            : 'expected a scrypt hash ($scrypt$ln=…,r=…,p=…$salt$hash) with ln ≤ 20, r ≤ 32, p ≤ 16'
          : 'expected a scrypt hash ($scrypt$…), got what looks like a plain-text password (never put passwords in the configuration); make a hash with hashPassword() of @beamline/plugin-webdav (see its README)',
      });
    }
    if (user.digest !== undefined && !/^[0-9a-f]{32}$/i.test(user.digest))
      issues.push({
        path: [...path, 'digest'],
        message:
          'expected the 32 hex digits of MD5("user:realm:password"), as digestSecret() of @beamline/plugin-webdav makes',
      });
    users.set(name, { name, password: user.password, digest: user.digest?.toLowerCase() });
  }

  const tokens = new Map<string, string>();
  for (const [name, token] of Object.entries(data.tokens)) {
    if (!NAME.test(name) || RESERVED_PRINCIPALS.has(name) || users.has(name))
      issues.push({
        path: ['tokens', name],
        message: `a token name is 1-64 letters, digits or . _ @ + -, not a user's name or a reserved word, got ${quoteText(name)}`,
      });
    if (!/^[0-9a-f]{64}$/i.test(token.sha256))
      issues.push({
        path: ['tokens', name, 'sha256'],
        message: 'expected the 64 hex digits of the SHA-256 of the token',
      });
    else tokens.set(token.sha256.toLowerCase(), name);
  }
  const principals = new Set([...users.keys(), ...tokens.values()]);

  const groups = new Map<string, readonly string[]>();
  for (const [name, members] of Object.entries(data.groups)) {
    if (!NAME.test(name))
      issues.push({ path: ['groups', name], message: `invalid group name ${quoteText(name)}` });
    members.forEach((member, index) => {
      if (!principals.has(member))
        issues.push({
          path: ['groups', name, index],
          message: `unknown user or token ${quoteText(member)}${known(principals)}`,
        });
    });
    groups.set(name, members);
  }

  const checkPrincipals = (list: readonly string[], path: ConfigPath): void => {
    list.forEach((entry, index) => {
      if (RESERVED_PRINCIPALS.has(entry)) return;
      if (entry.startsWith('@') ? groups.has(entry.slice(1)) : principals.has(entry)) return;
      issues.push({
        path: [...path, index],
        message: `unknown principal ${quoteText(entry)}; expected anonymous, authenticated, a user or token name or @group${known(new Set([...principals, ...[...groups.keys()].map((g) => `@${g}`)]))}`,
      });
    });
  };

  const shares: ShareSettings[] = [];
  const mount = splitUrlPath(data.mount);
  if (!mount)
    issues.push({
      path: ['mount'],
      message: 'expected a URL path like "/" or "/dav" (no dot segments, no "//")',
    });
  data.shares.forEach((share, index) => {
    const path = ['shares', index];
    const segments = splitUrlPath(share.path);
    if (!segments) {
      issues.push({
        path: [...path, 'path'],
        message: `expected a URL path like "/data" (a leading /, no trailing /, no dot segments), got ${quoteText(share.path)}`,
      });
      return;
    }
    checkPrincipals(share.read, [...path, 'read']);
    checkPrincipals(share.write, [...path, 'write']);
    const name = segments.join('/');
    for (const other of shares) {
      if (other.name === name)
        issues.push({ path: [...path, 'path'], message: `share ${share.path} is defined twice` });
      else if (
        nested(other.segments, segments) ||
        nested(segments, other.segments) ||
        segments.length === 0 ||
        other.segments.length === 0
      )
        issues.push({
          path: [...path, 'path'],
          message: `shares must not nest: ${share.path} and ${other.path}`,
        });
    }
    shares.push({
      name,
      segments,
      path: `/${name}`,
      root: absolute(share.root),
      read: share.read,
      write: share.write,
      symlinks: share.symlinks,
      quota: bytes(share.quota, [...path, 'quota']),
      maxUpload: bytes(share.maxUpload, [...path, 'maxUpload']),
      listing: share.listing,
    });
  });

  const lockDefault = ms(data.locks.defaultTimeout, ['locks', 'defaultTimeout']);
  const lockMax = ms(data.locks.maxTimeout, ['locks', 'maxTimeout']);
  if (data.auth.digest && ![...users.values()].some((user) => user.digest !== undefined))
    issues.push({ path: ['auth', 'digest'], message: 'Digest is on but no user has a digest secret' });
  if (!data.auth.basic && !data.auth.digest && users.size > 0)
    issues.push({ path: ['auth'], message: 'users are declared but both Basic and Digest are off' });

  return {
    realm: data.realm,
    stateDir: absolute(data.stateDir ?? '.beamline/webdav'),
    listen: data.listen,
    tls: data.tls && { cert: absolute(data.tls.cert), key: absolute(data.tls.key) },
    mount: mount ?? [],
    auth: {
      basic: data.auth.basic,
      digest: data.auth.digest,
      nonceLifetimeMs: ms(data.auth.nonceLifetime, ['auth', 'nonceLifetime']),
      throttle: {
        failures: data.auth.throttle.failures,
        windowMs: ms(data.auth.throttle.window, ['auth', 'throttle', 'window']),
        blockMs: ms(data.auth.throttle.block, ['auth', 'throttle', 'block']),
      },
    },
    users,
    groups,
    tokens,
    shares,
    locks: { defaultTimeoutMs: Math.min(lockDefault, lockMax), maxTimeoutMs: lockMax },
    accessLog: data.accessLog && { file: absolute(data.accessLog.file) },
    corsOrigins: data.cors?.origins ?? [],
  };
}

function known(names: ReadonlySet<string>): string {
  if (names.size === 0) return ' (none are declared)';
  const list = [...names].slice(0, 10).map((name) => quoteText(name));
  return ` (declared: ${list.join(', ')}${names.size > 10 ? ', …' : ''})`;
}

function nested(outer: readonly string[], inner: readonly string[]): boolean {
  return outer.length < inner.length && outer.every((segment, index) => inner[index] === segment);
}

/** `/data/x` → `['data', 'x']`; `/` → `[]`; undefined for anything that is not a clean absolute path. */
function splitUrlPath(path: string): string[] | undefined {
  if (!path.startsWith('/')) return undefined;
  if (path === '/') return [];
  if (path.endsWith('/')) return undefined;
  const segments = path.slice(1).split('/');
  for (const segment of segments)
    if (segment === '' || segment === '.' || segment === '..' || SEGMENT_FORBIDDEN.test(segment))
      return undefined;
  return segments;
}

/** Input type for programs: the configuration with every default optional (`defineShares({...})`). */
export function defineShares(config: ShareConfigInput): ShareConfigInput {
  return config;
}
