import { mkdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  attachShares,
  petricShares,
  resolveShareConfig,
  ShareServer,
  type PetricSharesOptions,
} from '@beamline/plugin-webdav';
import { challengePaths } from '../challenge.js';
import { collectRuns } from '../ranking/collect.js';
import { rank, type Ranking } from '../ranking/rank.js';
import { leaderboardJson, leaderboardMarkdown, ranksSvg } from '../ranking/render.js';
import { leaderboardFragment, leaderboardPage, REFRESH_SCRIPT } from './leaderboard-page.js';

/** Options of {@link startServer}. */
export interface ServeOptions extends Pick<
  PetricSharesOptions,
  'users' | 'tokens' | 'writers' | 'groups' | 'digest' | 'realm'
> {
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** How often the page refreshes itself, and the longest a ranking is reused (seconds; default 5). */
  refreshSeconds?: number;
  /** Datasets the ranking counts (the original's whitelist); default all. */
  datasets?: string[];
}

/** A running challenge server. */
export interface PetricServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * The challenge host on one port: `/leaderboard` (the page, updating itself as results arrive, and
 * `leaderboard.md`, `leaderboard.json`, `ranks.svg`, ranked from the logs at most every few seconds),
 * `/data` and `/data-wip` (plugin-webdav with PETRIC's rules: `/data` readable by anyone and written with a
 * login, `/data-wip` only with a login, relative links one level up) and `/logs` (read-only, for
 * TensorBoard users to sync).
 */
export async function startServer(root: string, options: ServeOptions = {}): Promise<PetricServer> {
  const paths = challengePaths(root);
  for (const dir of [paths.data, paths.dataWip, paths.logs]) await mkdir(dir, { recursive: true });
  const preset = petricShares({
    data: paths.data,
    wip: paths.dataWip,
    stateDir: join(root, '.beamline', 'webdav'),
    ...(options.users ? { users: options.users } : {}),
    ...(options.tokens ? { tokens: options.tokens } : {}),
    ...(options.writers ? { writers: options.writers } : {}),
    ...(options.groups ? { groups: options.groups } : {}),
    ...(options.digest !== undefined ? { digest: options.digest } : {}),
    ...(options.realm ? { realm: options.realm } : {}),
  });
  const config = resolveShareConfig({
    ...preset,
    shares: [...preset.shares, { path: '/logs', root: paths.logs, read: ['anonymous'], write: [] }],
  });
  const shares = await ShareServer.open(config);
  const refresh = options.refreshSeconds ?? 5;

  let cached: { at: number; ranking: Ranking; updated: Date } | undefined;
  let computing: Promise<{ ranking: Ranking; updated: Date }> | undefined;
  const current = async () => {
    if (cached && Date.now() - cached.at < refresh * 1000) return cached;
    computing ??= collectRuns(paths.logs, options.datasets ? { datasets: options.datasets } : {})
      .then(({ entries }) => {
        cached = { at: Date.now(), ranking: rank(entries), updated: new Date() };
        return cached;
      })
      .finally(() => {
        computing = undefined;
      });
    return computing;
  };

  const send = (res: ServerResponse, status: number, type: string, body: string, head: boolean) => {
    res.writeHead(status, {
      'content-type': type,
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      ...SECURITY_HEADERS,
    });
    res.end(head ? undefined : body);
  };

  const app = (req: IncomingMessage, res: ServerResponse) => {
    const head = req.method === 'HEAD';
    const path = (req.url ?? '/').split('?')[0]!;
    const routes: Record<string, () => Promise<[string, string]>> = {
      '/leaderboard': async () => {
        const { ranking, updated } = await current();
        return ['text/html; charset=utf-8', leaderboardPage(leaderboardFragment(ranking, updated), refresh)];
      },
      '/leaderboard/fragment': async () => {
        const { ranking, updated } = await current();
        return ['text/html; charset=utf-8', leaderboardFragment(ranking, updated)];
      },
      '/leaderboard/leaderboard.md': async () => [
        'text/markdown; charset=utf-8',
        leaderboardMarkdown((await current()).ranking),
      ],
      '/leaderboard/leaderboard.json': async () => [
        'application/json',
        JSON.stringify(leaderboardJson((await current()).ranking), null, 2) + '\n',
      ],
      '/leaderboard/ranks.svg': async () => ['image/svg+xml', ranksSvg((await current()).ranking)],
      '/leaderboard/refresh.js': () => Promise.resolve(['text/javascript; charset=utf-8', REFRESH_SCRIPT]),
    };
    if (path === '/leaderboard/') {
      res.writeHead(302, { location: '/leaderboard', 'content-length': 0 });
      res.end();
      return;
    }
    if (path === '/favicon.ico') {
      res.writeHead(204);
      res.end();
      return;
    }
    const route = routes[path];
    if (!route) return send(res, 404, 'text/plain; charset=utf-8', 'not found\n', head);
    if (req.method !== 'GET' && !head) {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 405, 'text/plain; charset=utf-8', 'only GET and HEAD\n', head);
    }
    route().then(
      ([type, body]) => send(res, 200, type, body, head),
      (error: unknown) =>
        send(
          res,
          500,
          'text/plain; charset=utf-8',
          `the leaderboard could not be computed: ${(error as Error).message}\n`,
          head,
        ),
    );
  };

  const server = createServer(app);
  attachShares(server, shares);
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 8080, options.host ?? '127.0.0.1', () => ok());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    server,
    close: async () => {
      const closed = new Promise<void>((ok) => server.close(() => ok()));
      server.closeAllConnections();
      await closed;
      await shares.close();
    },
  };
}
