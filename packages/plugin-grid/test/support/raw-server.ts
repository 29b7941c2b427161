import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';

/** What a raw server's handler gets for each request head. */
export type RawHandler = (head: string, socket: Socket, n: number) => void;

/** A server that speaks whatever its handler writes, and counts what reached it. */
export interface RawServer {
  readonly port: number;
  /** `http://127.0.0.1:<port><path>` (`https://` for a TLS server). */
  url(path: string): string;
  /** Every request head received (without the final CRLF CRLF), in order. */
  readonly heads: string[];
  /** Connections accepted so far. */
  readonly connections: number;
  /** Connections open right now. */
  readonly open: number;
  /** The most connections that were open at once. */
  readonly maxOpen: number;
  close(): Promise<void>;
}

export interface RawServerOptions {
  /** Serve TLS with these options (certificate, key, `requestCert`...). */
  readonly tls?: TlsOptions;
  /** Called on each new connection before any byte is read (a server that answers before the request). */
  readonly onConnection?: (socket: Socket) => void;
  /** Do not read the requests at all (a server that accepts and never reads). */
  readonly neverRead?: boolean;
}

/**
 * A raw TCP (or TLS) server for tests of the HTTP client: `respond` gets each request head (text, split
 * at CRLF CRLF) and the socket, and writes what it likes: malformed heads, wrong framing, cuts, drips.
 */
export async function rawServer(respond: RawHandler, options: RawServerOptions = {}): Promise<RawServer> {
  const heads: string[] = [];
  const sockets = new Set<Socket>();
  const state = { connections: 0, maxOpen: 0 };
  const onSocket = (socket: Socket) => {
    state.connections++;
    sockets.add(socket);
    state.maxOpen = Math.max(state.maxOpen, sockets.size);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    options.onConnection?.(socket);
    if (options.neverRead) return socket.pause();
    let buf = '';
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        heads.push(head);
        respond(head, socket, heads.length);
      }
    });
  };
  const server: Server = options.tls
    ? createTlsServer(options.tls, onSocket).on('tlsClientError', () => undefined)
    : createTcpServer(onSocket);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: (path) => `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}${path}`,
    heads,
    get connections() {
      return state.connections;
    },
    get open() {
      return sockets.size;
    },
    get maxOpen() {
      return state.maxOpen;
    },
    close: () =>
      new Promise<void>((ok) => {
        for (const s of sockets) s.destroy();
        server.close(() => ok());
      }),
  };
}

/** The request target of a head (`GET /a?b HTTP/1.1` gives `/a?b`). */
export function requestPath(head: string): string {
  return head.split(' ')[1] ?? '';
}
