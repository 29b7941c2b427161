import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTool } from '../../support/peers/tools.js';

/** The five litmus 0.13 suites and how many tests each has (104 in all). */
export const LITMUS_SUITES = { basic: 16, copymove: 13, props: 30, locks: 41, http: 4 } as const;

/** A litmus suite name. */
export type LitmusSuite = keyof typeof LITMUS_SUITES;

/** The outcome of one litmus test. */
interface LitmusTest {
  suite: string;
  /** Position in the suite (0-based, as litmus prints it; names repeat, e.g. `propget`). */
  index: number;
  name: string;
  result: 'pass' | 'fail' | 'skip';
  /** The reason litmus printed for a failure or skip. */
  message?: string;
  warnings: string[];
}

/** One suite's parsed output. */
export interface LitmusSuiteResult {
  suite: string;
  tests: LitmusTest[];
  /** From litmus' summary line, when it printed one (missing when litmus died mid-suite). */
  summary?: { run: number; passed: number; failed: number };
  /** The raw output, carriage returns resolved. */
  output: string;
}

const TEST_LINE = /^\s*(\d+)\.\s+([A-Za-z0-9_]+)(?:\.+|\s+|$)(.*)$/;
const RESULT = /^(pass|FAIL|SKIPPED)\b\s*(.*)$/;
const WARNING = /WARNING:\s*(.*)$/;

/**
 * Parses what litmus printed for one or more suites into per-test results. litmus redraws each test's
 * line with carriage returns (`\r 3. put_get.... \r 3. put_get.... pass`), prints warnings on the test
 * line and the result on a continuation line (`    ...... pass (with 1 warning)`), and wraps some
 * skip reasons over two lines; all of these are handled.
 */
export function parseLitmusOutput(text: string): LitmusSuiteResult[] {
  const suites: LitmusSuiteResult[] = [];
  let current: LitmusSuiteResult | undefined;
  let test: LitmusTest | undefined;
  let openMessage = false;
  const lines = text.split('\n');
  const finishLine = (rest: string) => {
    if (!test) return;
    const warning = WARNING.exec(rest);
    if (warning) {
      test.warnings.push(warning[1]!.trim());
      return;
    }
    const m = RESULT.exec(rest.trim());
    if (!m) return;
    test.result = m[1] === 'pass' ? 'pass' : m[1] === 'FAIL' ? 'fail' : 'skip';
    const detail = m[2]!.trim();
    if (test.result !== 'pass' && detail) {
      test.message = detail.replace(/^-\s*/, '').replace(/^\((.*)\)$/s, '$1');
      openMessage = detail.startsWith('(') && !detail.endsWith(')');
      if (openMessage) test.message = detail.slice(1);
    }
  };
  for (const raw of lines) {
    // The last redraw after a carriage return is what a terminal shows.
    const segments = raw.split('\r');
    const line = segments[segments.length - 1]!;
    const start = /^-> running `([^']+)':/.exec(line);
    if (start) {
      current = { suite: start[1]!, tests: [], output: '' };
      suites.push(current);
      test = undefined;
      openMessage = false;
      continue;
    }
    if (current) current.output += line + '\n';
    const summary = /^<- summary for `([^']+)': of (\d+) tests run: (\d+) passed, (\d+) failed/.exec(line);
    if (summary && current) {
      current.summary = { run: Number(summary[2]), passed: Number(summary[3]), failed: Number(summary[4]) };
      test = undefined;
      continue;
    }
    if (!current) continue;
    if (openMessage && test) {
      const end = line.endsWith(')');
      test.message += `\n${end ? line.slice(0, -1) : line}`;
      openMessage = !end;
      continue;
    }
    const t = TEST_LINE.exec(line);
    if (t) {
      const index = Number(t[1]);
      if (!test || test.index !== index) {
        test = { suite: current.suite, index, name: t[2]!, result: 'skip', warnings: [] };
        test.message = 'no result printed (litmus stopped)';
        current.tests.push(test);
      }
      // A redrawn line repeats "N. name....": keep only what follows the last repetition.
      let rest = t[3]!;
      const again = new RegExp(`^\\s*${index}\\.\\s+${t[2]}\\.*\\s*(.*)$`).exec(rest);
      if (again) rest = again[1]!;
      finishLine(rest);
      continue;
    }
    if (/^\s*\.{3,}\s/.test(line)) {
      finishLine(line.replace(/^\s*\.+\s*/, ''));
    }
  }
  for (const s of suites) {
    for (const t of s.tests) if (t.result === 'pass') delete t.message;
  }
  return suites;
}

/** Options of {@link runLitmusSuite}. */
export interface LitmusRunOptions {
  /** Collection URL litmus works under (it creates `litmus/` there), with a trailing slash. */
  url: string;
  user?: string;
  password?: string;
  /** Default 5 minutes; litmus is killed after it and the suite reports what it got through. */
  timeoutMs?: number;
}

/** A suite run: parsed results plus how litmus ended and its debug log on failure. */
export interface LitmusRun extends LitmusSuiteResult {
  exitCode: number | null;
  timedOut: boolean;
  seconds: number;
  /** The tail of litmus' debug.log (requests and responses), kept when a test failed. */
  debugTail?: string;
}

/**
 * Runs one litmus suite (`TESTS=<suite> litmus -k URL [USER PASS]`) in a scratch folder (litmus writes
 * `debug.log` into its working directory) and parses its output.
 */
export async function runLitmusSuite(suite: LitmusSuite, opts: LitmusRunOptions): Promise<LitmusRun> {
  const cwd = mkdtempSync(join(tmpdir(), `litmus-${suite}-`));
  try {
    const args = ['-k', opts.url, ...(opts.user !== undefined ? [opts.user, opts.password ?? ''] : [])];
    const r = await runTool('litmus', args, {
      cwd,
      env: { ...process.env, TESTS: suite },
      timeoutMs: opts.timeoutMs ?? 300_000,
    });
    const output = r.stdout + r.stderr;
    const parsed = parseLitmusOutput(output)[0] ?? { suite, tests: [], output };
    const run: LitmusRun = { ...parsed, exitCode: r.code, timedOut: r.timedOut, seconds: r.seconds };
    if (r.timedOut) {
      const last = run.tests.at(-1);
      const note = `litmus killed after ${Math.round(r.seconds)} s: no answer (the request hung)`;
      if (last && last.result === 'skip' && last.message?.startsWith('no result')) last.message = note;
      else
        run.tests.push({
          suite,
          index: run.tests.length,
          name: '(hung)',
          result: 'fail',
          message: note,
          warnings: [],
        });
    }
    if (parsed.tests.some((t) => t.result !== 'pass') || !parsed.summary) {
      try {
        run.debugTail = readFileSync(join(cwd, 'debug.log'), 'utf8').slice(-6000);
      } catch {
        // no debug log: litmus did not get as far as its first request
      }
    }
    return run;
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

/** A one-line-per-problem description of what did not pass in a suite run (empty when all passed). */
export function litmusProblems(run: LitmusSuiteResult, expected?: number): string[] {
  const problems = run.tests
    .filter((t) => t.result !== 'pass')
    .map((t) => `${run.suite} ${t.index}. ${t.name}: ${t.result.toUpperCase()} ${t.message ?? ''}`.trim());
  if (!run.summary) problems.push(`${run.suite}: litmus printed no summary (it stopped or was killed)`);
  if (expected !== undefined && run.tests.length !== expected) {
    problems.push(`${run.suite}: ${run.tests.length} tests reported, ${expected} expected`);
  }
  return problems;
}
