import type { ShareConfig } from '../config/share-config.js';
import type { AccessEvent } from '../server/access-log.js';
import type { ListenOptions, ShareWarning } from '../server/share-server.js';

/** What the primary sends a worker (IPC, advanced serialization: the configuration's Maps travel). */
export type ToWorker =
  | {
      readonly type: 'start';
      readonly config: ShareConfig;
      readonly listen: ListenOptions;
      /** Add `X-Beamline-Worker: <pid>` to every response. */
      readonly workerHeader: boolean;
      /** Whether the primary wants access events (an access log or a listener). */
      readonly access: boolean;
    }
  /** The primary's access log or listeners came or went: send access events, or stop building them. */
  | { readonly type: 'access'; readonly on: boolean }
  | { readonly type: 'stop'; readonly graceMs: number };

/** What a worker sends the primary. */
export type FromWorker =
  /** The worker's module is loaded and listens for messages (earlier ones would be lost). */
  | { readonly type: 'hello' }
  | { readonly type: 'ready'; readonly url: string }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'access'; readonly events: readonly AccessEvent[] }
  | { readonly type: 'warning'; readonly warning: ShareWarning };
