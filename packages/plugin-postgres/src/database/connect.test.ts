import { describe, expect, it } from 'vitest';
import { isTransientDatabaseError, redactUrl, retryTransient } from './connect.js';

describe('connection helpers', () => {
  it('never shows a password', () => {
    expect(redactUrl('postgres://u:secret@db:5432/x')).toBe('postgres://u:***@db:5432/x');
    expect(redactUrl('postgres://u@db/x')).toBe('postgres://u@db/x');
    expect(redactUrl('not a url with secret')).toBe('(unparsable URL)');
  });

  it('tells a server going away from a refused query', () => {
    const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });
    expect(
      isTransientDatabaseError(withCode('57P01', 'terminating connection due to administrator command')),
    ).toBe(true);
    expect(isTransientDatabaseError(withCode('08006'))).toBe(true);
    expect(isTransientDatabaseError(withCode('ECONNREFUSED'))).toBe(true);
    expect(isTransientDatabaseError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isTransientDatabaseError(withCode('23505', 'duplicate key'))).toBe(false);
    expect(isTransientDatabaseError(withCode('42601', 'syntax error'))).toBe(false);
    expect(isTransientDatabaseError('text')).toBe(false);
  });

  it('tries a transient failure again, and gives up on anything else at once', async () => {
    let calls = 0;
    const result = await retryTransient(() => {
      calls += 1;
      if (calls < 3) return Promise.reject(Object.assign(new Error('down'), { code: 'ECONNREFUSED' }));
      return Promise.resolve('ok');
    }, 10_000);
    expect([result, calls]).toEqual(['ok', 3]);
    calls = 0;
    await expect(
      retryTransient(() => {
        calls += 1;
        return Promise.reject(Object.assign(new Error('duplicate key'), { code: '23505' }));
      }, 10_000),
    ).rejects.toThrow('duplicate key');
    expect(calls).toBe(1);
    await expect(
      retryTransient(
        () => Promise.reject(Object.assign(new Error('still down'), { code: 'ECONNREFUSED' })),
        300,
      ),
    ).rejects.toThrow('still down');
  });
});
