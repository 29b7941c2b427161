/**
 * Exercises the engine's request guard in a process of its own (an uncaught exception would stop the
 * test runner): callbacks of several kinds that a guarded request scheduled throw, each must reach that
 * request's `onError` with the process alive; prints `RESULTS <json>`. Then, with `GUARD_FOREIGN=1`, a
 * timer of no request throws while a request is in flight: the process must crash as Node would.
 */
import { stat } from 'node:fs';
import { guardRequest } from '../../src/engine/request-guard.js';

function scenario(name: string, start: () => void, endEarly = false): Promise<string[]> {
  return new Promise((resolve) => {
    const caught: string[] = [];
    const end = guardRequest(
      start,
      (error) => caught.push(`${name}:${(error as Error).message}`),
      (error) => caught.push(`${name} (after the end):${(error as Error).message}`),
    );
    if (endEarly) end();
    setTimeout(() => {
      end();
      resolve(caught);
    }, 100);
  });
}

const results = [
  ...(await scenario('sync', () => {
    throw new Error('sync');
  })),
  ...(await scenario('timer', () => {
    setTimeout(() => {
      throw new Error('timer');
    }, 5);
  })),
  ...(await scenario('fs', () => {
    stat('/', () => {
      throw new Error('fs');
    });
  })),
  ...(await scenario('tick', () => {
    process.nextTick(() => {
      throw new Error('tick');
    });
  })),
  ...(await scenario('nested', () => {
    setTimeout(() => {
      setImmediate(() => {
        void Promise.resolve().then(() => {
          setTimeout(() => {
            throw new Error('nested');
          }, 1);
        });
      });
    }, 1);
  })),
  // Ended before its timer fires (the answer was sent): the timer's throw is still the request's, to
  // its after-the-end handler.
  ...(await scenario(
    'after-end',
    () => {
      setTimeout(() => {
        throw new Error('after-end');
      }, 20);
    },
    true,
  )),
];
process.stdout.write(`RESULTS ${JSON.stringify(results)}\n`);

// A thousand requests whose handler holds a large object (as the engine's holds the request and its
// response), each creating timers and promises: once they ended, nothing of theirs may stay reachable.
const held: WeakRef<object>[] = [];
for (let i = 0; i < 1000; i += 1) {
  const request = { body: Buffer.alloc(64 * 1024) };
  held.push(new WeakRef(request));
  await new Promise<void>((resolve) => {
    const end = guardRequest(
      () => {
        void Promise.resolve().then(() => setTimeout(resolve, 0));
      },
      () => void request.body.length,
      () => undefined,
    );
    setTimeout(() => {
      end();
      resolve();
    }, 1);
  });
}
await new Promise((resolve) => setTimeout(resolve, 50));
(globalThis as { gc?: () => void }).gc?.();
process.stdout.write(`RETAINED ${held.filter((ref) => ref.deref() !== undefined).length}\n`);

if (process.env.GUARD_FOREIGN === '1') {
  // A timer of no request, throwing while a request is inside the engine.
  setTimeout(() => {
    throw new Error('foreign failure');
  }, 10);
  await scenario('slow', () => {
    setTimeout(() => undefined, 200);
  });
  process.stdout.write('STILL ALIVE\n');
}
