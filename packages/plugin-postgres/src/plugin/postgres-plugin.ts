import { parseDuration, type Plugin } from '@beamline/core';
import {
  ArtifactShare,
  artifactShareOptions,
  type ArtifactShareOptions,
} from '../artifacts/artifact-share.js';
import { CoordinatorArtifacts } from '../artifacts/coordinator-artifacts.js';
import { PostgresError } from '../errors/postgres-error.js';
import { QueueConnection } from '../queue/queue-connection.js';
import { QueueRunner } from '../queue/queue-runner.js';

/** Options of {@link createPostgresPlugin}. */
export interface PostgresPluginOptions {
  /** `postgres://user:password@host:5432/database` of the shared queue. */
  url: string;
  /** The schema of Beamline's queue tables (default `beamline`; pg-boss uses `<schema>_boss`). */
  schema?: string;
  /**
   * How long a worker holds a step without a heartbeat before it goes to another worker: a duration
   * (`30s`) or milliseconds; default 30 s. Workers renew three times per lease.
   */
  lease?: string | number;
  /**
   * How often the coordinator looks at a job when no notification comes (ms, default 5,000): a fallback
   * for a lost notification (job changes are pushed with `NOTIFY`), so it costs latency only then.
   */
  pollMs?: number;
  /**
   * An artifact share for workers that do not have the run's folder (`{ share: 'https://host/dav/beamline/',
   * tokenFile }`): a step's inputs are put there before its job is queued, and the outputs such a worker
   * uploads are fetched back into the run's folder. Default: `BEAMLINE_ARTIFACT_SHARE` (and
   * `BEAMLINE_ARTIFACT_TOKEN_FILE`) when set; without a share the run's folder must be shared.
   */
  artifacts?: ArtifactShareOptions;
}

/**
 * The distributed mode of `@beamline/plugin-postgres`: every step of a run is handed to the shared queue
 * instead of running here (`PluginRegistry.placeRunners`), and workers on other hosts
 * (`beamline worker --queue …`, or {@link QueueWorker}) run it with the runner it names. Use it with a
 * {@link PostgresStore} on the same database, so that every host sees the runs.
 */
export function createPostgresPlugin(options: PostgresPluginOptions): Plugin {
  const leaseMs = options.lease === undefined ? 30_000 : parseDuration(options.lease);
  if (leaseMs === undefined || leaseMs < 300) {
    throw new PostgresError(
      'POSTGRES_CONFIG_INVALID',
      `lease: expected a duration of at least 300 ms such as "30s", got ${JSON.stringify(options.lease)}`,
    );
  }
  const shareOptions = artifactShareOptions(options.artifacts);
  const artifacts =
    shareOptions === undefined ? undefined : new CoordinatorArtifacts(ArtifactShare.open(shareOptions));
  let connection: QueueConnection | undefined;
  const connected = (): QueueConnection => {
    if (connection === undefined || connection.closed) {
      throw new PostgresError(
        'POSTGRES_UNREACHABLE',
        'the postgres plugin is not started (or already stopped)',
      );
    }
    return connection;
  };
  return {
    name: 'postgres',
    register(registry) {
      registry.placeRunners(
        (runner) =>
          new QueueRunner(runner, connected, {
            leaseMs,
            pollMs: options.pollMs ?? 5_000,
            ...(artifacts === undefined ? {} : { artifacts }),
          }),
      );
    },
    async start(context) {
      connection = await QueueConnection.open({
        url: options.url,
        ...(options.schema === undefined ? {} : { schema: options.schema }),
        supervise: true,
        onWarning: (message) => context.events.emit({ level: 'warning', source: 'postgres', message }),
      });
    },
    async stop() {
      await connection?.close();
    },
  };
}
