import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ShareSpec } from '../../support/peers/share-spec.js';

/** The user who may write (a password with the characters Basic parsers get wrong: `:`, `+`, `/`). */
export const WRITER = { name: 'writer', password: 'pa:ss+w/rd' } as const;
/** A user who may only read. */
export const READER = { name: 'reader', password: 'read-only-pw' } as const;

/** The share layout every client test uses, rooted in `root`. */
export interface ClientLayout {
  spec: ShareSpec;
  /** Host folders: `dav` (litmus and the write clients), `data` (public), `wip` (`/data-wip`). */
  folders: { dav: string; data: string; wip: string };
}

/**
 * The PETRIC-like layout of the client tests: `/dav` (read and write with a login, read-only for
 * `reader`), `/data` (anonymous read, `writer` writes) and `/data-wip` (read with a login, no writes).
 */
export function clientLayout(root: string): ClientLayout {
  const folders = { dav: join(root, 'dav'), data: join(root, 'data'), wip: join(root, 'wip') };
  for (const f of Object.values(folders)) mkdirSync(f, { recursive: true });
  return {
    folders,
    spec: {
      users: { [WRITER.name]: WRITER.password, [READER.name]: READER.password },
      mounts: [
        { path: '/dav', folder: folders.dav, read: 'users', write: [WRITER.name] },
        { path: '/data', folder: folders.data, read: 'anonymous', write: [WRITER.name] },
        { path: '/data-wip', folder: folders.wip, read: 'users', write: 'nobody' },
      ],
    },
  };
}
