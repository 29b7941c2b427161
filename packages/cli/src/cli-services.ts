import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createRuntime, SqliteStore, type Runtime, type Store } from '@beamline/core';
import { resolve } from 'node:path';
import { createPostgresPlugin, PostgresStore, type ArtifactShareOptions } from '@beamline/plugin-postgres';
import type { CliIO } from './cli-io.js';
import { CliError } from './cli-error.js';
import { defaultPlugins } from './default-plugins.js';
import { reportRuntimeEvents } from './runtime-events.js';

/** Where the embedded store lives, relative to the working directory. */
const STATE_DIR = '.beamline';

/**
 * How subcommands reach the runtime and the store. Injected so the commands can be tested with fakes
 * and so that read-only commands (`runs`, `show`, `logs`) open only the store, not the plugins.
 */
export interface CliServices {
  /**
   * The runtime of `io.cwd`; with a queue (`--queue`, else `BEAMLINE_QUEUE`), the distributed mode: runs
   * live in PostgreSQL and every step goes to the queue's workers.
   */
  openRuntime(io: CliIO, options?: { queue?: string; artifacts?: ArtifactShareOptions }): Promise<Runtime>;
  /** Opens (or creates) the store of `io.cwd`; readers call `requireStore` first. */
  openStore(io: CliIO): Promise<Store>;
  /** Whether `io.cwd` has a store at all. */
  hasStore(io: CliIO): boolean;
}

/**
 * The real services: `SqliteStore` in `<cwd>/.beamline/` and the default plugins; with a queue
 * (`BEAMLINE_QUEUE=postgres://…`, or `run --queue`), `PostgresStore` on it and its placing plugin.
 */
export const defaultCliServices: CliServices = {
  openRuntime: async (io, options = {}) => {
    const queue = queueUrl(io, options.queue);
    if (queue === undefined) {
      return reportRuntimeEvents(await createRuntime({ plugins: defaultPlugins(io.env), cwd: io.cwd }), io);
    }
    const store = await PostgresStore.open({ url: queue });
    const artifacts = options.artifacts ?? artifactShare(io, {});
    const plugins = [
      ...defaultPlugins(io.env),
      createPostgresPlugin({ url: queue, ...(artifacts === undefined ? {} : { artifacts }) }),
    ];
    return reportRuntimeEvents(await createRuntime({ plugins, store, cwd: io.cwd }), io);
  },
  openStore: async (io) => {
    const queue = queueUrl(io);
    return queue === undefined ? SqliteStore.open({ cwd: io.cwd }) : PostgresStore.open({ url: queue });
  },
  hasStore: (io) => queueUrl(io) !== undefined || existsSync(join(io.cwd, STATE_DIR)),
};

/** The shared queue's URL: given on the command line, else `BEAMLINE_QUEUE`; undefined for none. */
export function queueUrl(io: CliIO, given?: string): string | undefined {
  const url = given ?? io.env.BEAMLINE_QUEUE;
  return url === undefined || url === '' ? undefined : url;
}

/**
 * The artifact share of the distributed mode: `--artifact-share URL` (else `BEAMLINE_ARTIFACT_SHARE`) with
 * `--artifact-token-file FILE` (else `BEAMLINE_ARTIFACT_TOKEN_FILE`, resolved against the working
 * directory); undefined when none is named (the run's folder is then shared).
 */
export function artifactShare(
  io: CliIO,
  flags: { artifactShare?: string; artifactTokenFile?: string },
): ArtifactShareOptions | undefined {
  const share = flags.artifactShare ?? io.env.BEAMLINE_ARTIFACT_SHARE;
  const tokenFile = flags.artifactTokenFile ?? io.env.BEAMLINE_ARTIFACT_TOKEN_FILE;
  if (share === undefined || share === '') {
    if (flags.artifactTokenFile !== undefined) {
      throw new CliError('CLI_USAGE', '--artifact-token-file goes with --artifact-share URL.');
    }
    return undefined;
  }
  return {
    share,
    ...(tokenFile === undefined || tokenFile === '' ? {} : { tokenFile: resolve(io.cwd, tokenFile) }),
  };
}

/**
 * Fails with `CLI_NOT_FOUND` when `io.cwd` has no store: commands that name a run must not create an
 * empty store in whatever directory they were typed in.
 */
export function requireStore(services: Pick<CliServices, 'hasStore'>, io: CliIO): void {
  if (!services.hasStore(io)) {
    throw new CliError(
      'CLI_NOT_FOUND',
      `No Beamline runs in ${io.cwd} (no ${STATE_DIR}/ directory here). Start one with 'beamline run <file>'.`,
    );
  }
}

/** Opens a resource, uses it, and closes it whatever happens. */
export async function using<T extends { close(): Promise<void> }, R>(
  open: Promise<T>,
  use: (resource: T) => Promise<R>,
): Promise<R> {
  const resource = await open;
  try {
    return await use(resource);
  } finally {
    await resource.close();
  }
}
