import { z } from 'zod';

/**
 * Who a rule grants access to: `anonymous` (everyone, no login needed), `authenticated` (any valid
 * login: a user or a bearer token), a user or token name, or `@group`.
 */
export type Principal = string;

const principal = z.string().min(1, 'expected a principal name');
const size = z.union([z.string(), z.number()]);
const duration = z.union([z.string(), z.number()]);

const userSchema = z.strictObject({
  /** A scrypt hash in PHC form (`$scrypt$ln=15,r=8,p=1$salt$hash`), never a plain-text password. */
  password: z.string().optional(),
  /**
   * Digest secret: the hex MD5 of `user:realm:password` (what `htdigest` stores), needed only for HTTP
   * Digest (Windows over plain HTTP). Bound to the realm; a password equivalent for this server only.
   */
  digest: z.string().optional(),
});

const tokenSchema = z.strictObject({
  /** Hex SHA-256 of the bearer token. */
  sha256: z.string(),
});

const shareSchema = z.strictObject({
  /** URL path of the share (`/data`): a leading `/`, no trailing `/`, no dot segments. */
  path: z.string(),
  /** Host folder served under `path`. */
  root: z.string(),
  /** Who may read (GET, HEAD, PROPFIND, OPTIONS). Empty or absent: nobody. */
  read: z.array(principal).default([]),
  /** Who may write (PUT, DELETE, MKCOL, COPY/MOVE into, PROPPATCH, LOCK, UNLOCK). Empty or absent: nobody. */
  write: z.array(principal).default([]),
  /**
   * `one-level-up` follows relative symbolic links whose target resolves at most one level above the
   * share's folder (`share/x -> ../x`), for reads only; `none` follows no link. Default `none`.
   */
  symlinks: z.enum(['none', 'one-level-up']).default('none'),
  /** Most bytes the share may hold (`500g`); PUT beyond it is 507. Default: the file system's free space. */
  quota: size.optional(),
  /** Largest single upload (`50g`). Default: no limit beyond quota and free space. */
  maxUpload: size.optional(),
  /** HTML (and JSON) listings of collections for browsers. Default true. */
  listing: z.boolean().default(true),
});

const authSchema = z.strictObject({
  /** HTTP Basic (RFC 7617). Default true. */
  basic: z.boolean().default(true),
  /** HTTP Digest (RFC 7616, MD5, qop=auth) with a server-side nonce store. Default false. */
  digest: z.boolean().default(false),
  /** How long a Digest nonce stays valid (`5m`). */
  nonceLifetime: duration.default('5m'),
  /** Failed logins from one client address within `window` before it is refused (429) for `block`. */
  throttle: z
    .strictObject({
      failures: z.number().int().positive().default(10),
      window: duration.default('5m'),
      block: duration.default('5m'),
    })
    .prefault({}),
});

const locksSchema = z.strictObject({
  /** Timeout of a lock whose request asks for none or for `Infinite`. */
  defaultTimeout: duration.default('10m'),
  /** Longest timeout granted whatever a client asks for. */
  maxTimeout: duration.default('1h'),
});

/** The shares configuration as written (YAML, JSON or a TypeScript object). */
export const shareConfigSchema = z.strictObject({
  /** Realm of the login challenge (and of Digest secrets). */
  realm: z.string().min(1).default('Beamline WebDAV'),
  /** Where locks, dead properties and upload bookkeeping are kept. Default `<cwd>/.beamline/webdav`. */
  stateDir: z.string().optional(),
  /** Stand-alone listening address. */
  listen: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8080),
    })
    .optional(),
  /** TLS certificate and key (PEM files) for stand-alone `https`. */
  tls: z.strictObject({ cert: z.string(), key: z.string() }).optional(),
  /** URL prefix all shares live under (`/dav`); default `/`. */
  mount: z.string().default('/'),
  auth: authSchema.prefault({}),
  users: z.record(z.string(), userSchema).default({}),
  groups: z.record(z.string(), z.array(z.string())).default({}),
  tokens: z.record(z.string(), tokenSchema).default({}),
  shares: z.array(shareSchema).min(1, 'expected at least one share'),
  locks: locksSchema.prefault({}),
  /** Access log file (one JSON object per request); relative to the configuration's folder. */
  accessLog: z.strictObject({ file: z.string() }).optional(),
  /** Origins allowed to make cross-origin requests with credentials. Default none (no CORS headers). */
  cors: z.strictObject({ origins: z.array(z.string()).default([]) }).optional(),
});

/** The shares configuration as a program may write it (defaults optional). */
export type ShareConfigInput = z.input<typeof shareConfigSchema>;
/** One share as written. */
export type ShareInput = z.input<typeof shareSchema>;
/** One user as written. */
export type UserInput = z.input<typeof userSchema>;

/** A share after validation: absolute folder, resolved limits. */
export interface ShareSettings {
  /** The share's name: its URL path without the leading `/` (`data`, `data-wip`). */
  readonly name: string;
  /** URL path segments of the share (`['data']`). */
  readonly segments: readonly string[];
  /** URL path as configured (`/data`). */
  readonly path: string;
  /** Absolute host folder. */
  readonly root: string;
  readonly read: readonly Principal[];
  readonly write: readonly Principal[];
  readonly symlinks: 'none' | 'one-level-up';
  /** Bytes, or undefined for no quota. */
  readonly quota: number | undefined;
  /** Bytes, or undefined for no limit. */
  readonly maxUpload: number | undefined;
  readonly listing: boolean;
}

/** A user after validation (secrets as stored: hashes only). */
export interface UserSettings {
  readonly name: string;
  readonly password: string | undefined;
  readonly digest: string | undefined;
}

/** The validated configuration the server runs on. */
export interface ShareConfig {
  readonly realm: string;
  readonly stateDir: string;
  readonly listen: { readonly host: string; readonly port: number } | undefined;
  readonly tls: { readonly cert: string; readonly key: string } | undefined;
  /** URL prefix segments all shares live under (empty for `/`). */
  readonly mount: readonly string[];
  readonly auth: {
    readonly basic: boolean;
    readonly digest: boolean;
    readonly nonceLifetimeMs: number;
    readonly throttle: { readonly failures: number; readonly windowMs: number; readonly blockMs: number };
  };
  readonly users: ReadonlyMap<string, UserSettings>;
  /** Group name (without `@`) → member names. */
  readonly groups: ReadonlyMap<string, readonly string[]>;
  /** Hex SHA-256 of a token → the token's name. */
  readonly tokens: ReadonlyMap<string, string>;
  readonly shares: readonly ShareSettings[];
  readonly locks: { readonly defaultTimeoutMs: number; readonly maxTimeoutMs: number };
  readonly accessLog: { readonly file: string } | undefined;
  readonly corsOrigins: readonly string[];
}
