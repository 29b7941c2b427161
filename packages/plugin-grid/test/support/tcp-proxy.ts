import { connect, createServer, type Socket } from 'node:net';

/** Counters of a {@link startTcpProxy}. */
interface ProxyStats {
  connections: number;
  cuts: number;
  active: number;
  maxActive: number;
}

export interface TcpProxy {
  port: number;
  stats: ProxyStats;
  close(): Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1 in front of `targetPort`. It counts connections (current and peak: the
 * per-host cap test reads `maxActive`) and, with `cutEvery`, destroys each connection after 0.5–1.5 ×
 * `cutEvery` bytes from the server (resume tests). Works below HTTP, so it covers root:// too.
 */
export async function startTcpProxy(
  targetPort: number,
  opts: { cutEvery?: number; maxCuts?: number } = {},
): Promise<TcpProxy> {
  const stats: ProxyStats = { connections: 0, cuts: 0, active: 0, maxActive: 0 };
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    stats.connections++;
    stats.active++;
    stats.maxActive = Math.max(stats.maxActive, stats.active);
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      stats.active--;
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    const limit =
      opts.cutEvery !== undefined && (opts.maxCuts === undefined || stats.cuts < opts.maxCuts)
        ? Math.round(opts.cutEvery * (0.5 + Math.random()))
        : Number.POSITIVE_INFINITY;
    let sent = 0;
    upstream.on('data', (d: Buffer) => {
      sent += d.length;
      if (sent > limit) {
        const keep = d.length - (sent - limit);
        if (keep > 0) client.write(d.subarray(0, keep));
        stats.cuts++;
        close();
        return;
      }
      if (!client.write(d)) {
        upstream.pause();
        client.once('drain', () => upstream.resume());
      }
    });
    client.on('data', (d: Buffer) => upstream.write(d));
    // A client that sent FIN is done with the connection; counting it until the socket is fully closed
    // would let a replaced keep-alive connection overlap its successor in `maxActive`.
    client.on('end', close);
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', close);
    upstream.on('error', close);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    stats,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
