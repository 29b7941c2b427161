import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request the receiver got. */
interface ReceivedPost {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** The parsed JSON body, or undefined when it was not JSON. */
  readonly json: { text?: string; username?: string; channel?: string; icon_url?: string } | undefined;
  /** When it arrived (ms since the epoch). */
  readonly at: number;
}

/** How the receiver answers one request; `res` is Node's response (write, end, destroy the socket). */
export type Answer = (res: ServerResponse) => void;

/** A local Mattermost/Slack-compatible incoming webhook: records what it gets, answers as scripted. */
export interface ChatReceiver {
  /** The webhook URL (`http://127.0.0.1:<port>/hooks/<token>`). */
  readonly url: string;
  readonly posts: ReceivedPost[];
  /** Answers for the next requests, in order; afterwards each request gets `200 ok`, as Mattermost says. */
  script(...answers: Answer[]): void;
  /** Resolves once `count` requests arrived (rejects after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedPost[]>;
  close(): Promise<void>;
}

const ok: Answer = (res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
export const status =
  (code: number, body = '', headers: Record<string, string> = {}): Answer =>
  (res) =>
    res.writeHead(code, { 'content-type': 'text/plain', ...headers }).end(body);
/** Closes the connection without an answer. */
export const hangUp: Answer = (res) => res.socket?.destroy();
/** Never answers (the client's timeout must end it). */
export const silence: Answer = () => undefined;

export async function startChatReceiver(token = 'hook-0123456789abcdef'): Promise<ChatReceiver> {
  const posts: ReceivedPost[] = [];
  const answers: Answer[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: ReceivedPost['json'];
      try {
        json = JSON.parse(body) as ReceivedPost['json'];
      } catch {
        json = undefined;
      }
      posts.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        json,
        at: Date.now(),
      });
      (answers.shift() ?? ok)(res);
      for (const waiter of waiters.filter((w) => posts.length >= w.count)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/${token}`,
    posts,
    script: (...more) => answers.push(...more),
    waitFor(count, timeoutMs = 15_000) {
      if (posts.length >= count) return Promise.resolve(posts.slice());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`expected ${count} posts within ${timeoutMs} ms, got ${posts.length}`)),
          timeoutMs,
        );
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve(posts.slice());
          },
        });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
