import { EMPTY } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Command } from '../contracts/command.js';
import type { CacheKeyParts } from '../contracts/events.js';
import { diffKeyParts } from './cache-key.js';
import { validateParams } from './validate-params.js';

// Parameter names are chosen by command authors and users: one named like an Object.prototype member is
// missing or new when it is, never `Object.prototype`'s function.

const parts = (params: string): CacheKeyParts => ({
  command: 'c',
  commandVersion: '1',
  params,
  inputs: {},
  runner: 'local',
});

describe('parameter names like Object.prototype members', () => {
  it.each(['constructor', 'toString', 'hasOwnProperty'])(
    'a missing parameter %s is reported as missing',
    async (name) => {
      const command: Command = {
        name: 'c',
        version: '1',
        params: z.strictObject({ [name]: z.string() }),
        execute: () => EMPTY,
      };
      const error = await validateParams(command, {}, 'a').catch((caught: unknown) => caught);
      expect((error as Error).message).toContain(
        `steps.a.with.${name}: expected a string, but it is missing`,
      );
    },
  );

  it('a parameter that appeared is new in the cache key diff, not a change from a function', () => {
    const changes = diffKeyParts(parts('{"a":1}'), parts('{"a":1,"constructor":2,"__proto__":3}'));
    expect(changes).toHaveLength(1);
    expect(Object.entries(changes[0]!.before as object)).toEqual([
      ['constructor', undefined],
      ['__proto__', undefined],
    ]);
    expect(Object.entries(changes[0]!.after as object)).toEqual([
      ['constructor', 2],
      ['__proto__', 3],
    ]);
  });
});
