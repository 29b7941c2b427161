import type { ShareConfigInput, UserInput } from './share-config.js';

/** Options of {@link petricShares}. */
export interface PetricSharesOptions {
  /** Host folder of `/data` (PETRIC: `/mnt/share-public/petric`). */
  readonly data: string;
  /** Host folder of `/data-wip` (PETRIC: `/mnt/share-public/petric-wip`). */
  readonly wip: string;
  /** Users (scrypt hashes; Digest secrets for Windows over plain HTTP). */
  readonly users?: Readonly<Record<string, UserInput>>;
  /** Bearer tokens by name (hex SHA-256 of each token). */
  readonly tokens?: Readonly<Record<string, { readonly sha256: string }>>;
  /** Who may write to both shares: default every user and token (`authenticated`). */
  readonly writers?: readonly string[];
  readonly groups?: Readonly<Record<string, readonly string[]>>;
  /** Turn on Digest (Windows "map network drive" over plain HTTP needs it). Default: when any user has a digest secret. */
  readonly digest?: boolean;
  readonly realm?: string;
  readonly stateDir?: string;
  readonly listen?: { readonly host?: string; readonly port?: number };
  readonly tls?: { readonly cert: string; readonly key: string };
}

/**
 * The PETRIC challenge's share layout: `/data` readable by anyone (a browser lists it, nobody is asked
 * to log in), written by the writers (Windows network drive, davfs2); `/data-wip` read and written only
 * with a login. Relative symbolic links are followed one level up (`petric/X -> ../X`), for reads only,
 * and a link into the other share needs that share's rights.
 */
export function petricShares(options: PetricSharesOptions): ShareConfigInput {
  const writers = [...(options.writers ?? ['authenticated'])];
  const users = { ...options.users };
  const digest = options.digest ?? Object.values(users).some((user) => user.digest !== undefined);
  return {
    realm: options.realm ?? 'PETRIC data',
    ...(options.stateDir !== undefined && { stateDir: options.stateDir }),
    ...(options.listen !== undefined && { listen: options.listen }),
    ...(options.tls !== undefined && { tls: options.tls }),
    auth: { basic: true, digest },
    users,
    ...(options.tokens !== undefined && { tokens: { ...options.tokens } }),
    ...(options.groups !== undefined && {
      groups: Object.fromEntries(
        Object.entries(options.groups).map(([name, members]) => [name, [...members]]),
      ),
    }),
    shares: [
      { path: '/data', root: options.data, read: ['anonymous'], write: writers, symlinks: 'one-level-up' },
      {
        path: '/data-wip',
        root: options.wip,
        read: ['authenticated'],
        write: writers,
        symlinks: 'one-level-up',
      },
    ],
  };
}
