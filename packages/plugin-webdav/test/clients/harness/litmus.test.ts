import { describe, expect, it } from 'vitest';
import { APACHE_LOCKS, CRASHED_LOCKS, NGINX_LOCKS, NGINX_PROPS } from './litmus-fixtures.js';
import { litmusProblems, parseLitmusOutput } from './litmus.js';

describe('parseLitmusOutput', () => {
  it('reads every test of a passing suite, with warnings and names that fill the column', () => {
    const [run] = parseLitmusOutput(APACHE_LOCKS);
    expect(run!.suite).toBe('locks');
    expect(run!.tests).toHaveLength(41);
    expect(run!.tests.map((t) => t.index)).toEqual([...Array(41).keys()]);
    expect(run!.tests.every((t) => t.result === 'pass')).toBe(true);
    expect(run!.summary).toEqual({ run: 41, passed: 41, failed: 0 });
    const corrupt = run!.tests[18]!;
    expect(corrupt.name).toBe('cond_put_corrupt_token');
    expect(corrupt.warnings).toEqual(['PUT failed with 400 not 423']);
    expect(run!.tests[19]!.name).toBe('complex_cond_put');
    expect(run!.tests[19]!.warnings).toEqual([]);
    expect(litmusProblems(run!, 41)).toEqual([]);
  });

  it('reports failures with their reason and skipped tests, keeping repeated names apart', () => {
    const [run] = parseLitmusOutput(NGINX_PROPS);
    const failed = run!.tests.filter((t) => t.result === 'fail');
    expect(failed.map((t) => `${t.index}:${t.name}`)).toEqual([
      '3:propfind_invalid2',
      '6:propset',
      '26:propmanyns',
      '27:propget',
    ]);
    expect(failed[1]!.message).toBe("PROPPATCH on `/litmus/prop': 405 Not Allowed");
    const skipped = run!.tests.filter((t) => t.result === 'skip');
    expect(skipped).toHaveLength(16);
    expect(skipped.filter((t) => t.name === 'propget')).toHaveLength(8);
    expect(run!.summary).toEqual({ run: 14, passed: 10, failed: 4 });
    expect(run!.tests).toHaveLength(30);
    expect(litmusProblems(run!, 30)).toHaveLength(20);
  });

  it('joins a skip reason wrapped over two lines', () => {
    const [run] = parseLitmusOutput(NGINX_LOCKS);
    expect(run!.tests).toHaveLength(4);
    expect(run!.tests[3]).toMatchObject({
      name: 'precond',
      result: 'skip',
      message: 'locking tests skipped,\nserver does not claim Class 2 compliance',
    });
    expect(litmusProblems(run!, 41)).toEqual([
      'locks 2. options: FAIL server does not claim WebDAV compliance',
      'locks 3. precond: SKIP locking tests skipped,\nserver does not claim Class 2 compliance',
      'locks: 4 tests reported, 41 expected',
    ]);
  });

  it('flags a run that stopped before its summary (server gone)', () => {
    const [run] = parseLitmusOutput(CRASHED_LOCKS);
    expect(run!.summary).toBeUndefined();
    expect(run!.tests).toHaveLength(22);
    expect(run!.tests[21]).toMatchObject({ name: 'unlock', result: 'fail' });
    expect(run!.tests[21]!.message).toContain('Connection refused');
    const problems = litmusProblems(run!, 41);
    expect(problems).toContain('locks: litmus printed no summary (it stopped or was killed)');
    expect(problems).toContain('locks: 22 tests reported, 41 expected');
  });

  it('marks a test that printed its name but no result as not passed', () => {
    const [run] = parseLitmusOutput(
      "-> running `basic':\n\r 0. init.................. \r 0. init.................. pass\n\r 1. begin................. ",
    );
    expect(run!.tests.map((t) => t.result)).toEqual(['pass', 'skip']);
    expect(run!.tests[1]!.message).toBe('no result printed (litmus stopped)');
  });
});
