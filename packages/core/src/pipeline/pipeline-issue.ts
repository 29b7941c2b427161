import { CoreError, type CoreErrorCode } from '../errors/core-error.js';
import { escapeText, MAX_EXCERPT_CHARS, quoteText } from '../util/quote-text.js';

/** One step of a path into a pipeline document: a key or a list index. */
export type PathSegment = string | number;

/** Line and column (both from 1) of a place in a pipeline file. */
export interface SourcePosition {
  line: number;
  column: number;
}

/**
 * Finds where a path lies in the source text. `key` asks for the key itself (an unknown key), `value` for
 * its value; when the path does not exist the nearest enclosing place is returned.
 */
export type SourceLocator = (
  path: readonly PathSegment[],
  target: 'key' | 'value',
) => SourcePosition | undefined;

/** One problem found in a pipeline; `message` says what was found and what was expected. */
export interface PipelineIssue {
  path: PathSegment[];
  message: string;
  /** Point at the key rather than its value (unknown or invalid keys). */
  target?: 'key' | 'value';
  position?: SourcePosition;
}

/** An issue as it appears in `CoreError.details.issues`. */
export interface PipelineIssueDetail {
  path: string;
  message: string;
  line?: number;
  column?: number;
  /** The full line as printed in the error message. */
  text: string;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** Most issues an error lists; the rest are counted ("… and 3,412 more"). */
export const MAX_LISTED_ISSUES = 20;
/** Longest message of one issue (a parser's message may quote the rest of a file). */
const MAX_MESSAGE_CHARS = 400;

/**
 * A message from a parser or a schema library, made safe to print: every double-quoted excerpt it holds
 * is cut to {@link MAX_EXCERPT_CHARS}, unprintable characters are escaped, and the whole is bounded.
 */
export function boundMessage(message: string): string {
  // Only the head can reach the bounded result; scanning a parser message that quotes megabytes of a
  // file for excerpts overflowed the regular expression's backtracking stack on some inputs.
  const head = message.length > MAX_SCANNED_CHARS ? message.slice(0, MAX_SCANNED_CHARS) : message;
  const cut = head.replace(QUOTED, (excerpt) =>
    excerpt.length <= MAX_EXCERPT_CHARS ? excerpt : cutExcerpt(excerpt),
  );
  const safe = escapeText(cut);
  return safe.length <= MAX_MESSAGE_CHARS ? safe : `${safe.slice(0, MAX_MESSAGE_CHARS - 1)}…`;
}

/** How much of a message {@link boundMessage} reads: far more than it can print. */
const MAX_SCANNED_CHARS = 64 * 1024;

/**
 * A double-quoted excerpt with backslash escapes inside, as `JSON.stringify` writes one (runs of plain
 * characters matched at once, so a long excerpt costs one step per escape, not per character).
 */
const QUOTED = /"[^"\\]*(?:\\.[^"\\]*)*"/gs;

function cutExcerpt(excerpt: string): string {
  // Never end inside an escape sequence (`\u001b` is six characters).
  const inner = excerpt.slice(1, MAX_EXCERPT_CHARS - 2).replace(/\\(?:u[0-9a-fA-F]{0,3})?$/, '');
  return `"${inner}…"`;
}

/** `steps.train.needs[0]`, `steps.train.with['a.b']`. */
export function formatPath(path: readonly PathSegment[]): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (IDENTIFIER.test(segment)) text += text === '' ? segment : `.${segment}`;
    else text += `[${quoteText(segment).replace(/^"|"$/g, "'")}]`;
  }
  return text;
}

/** A short description of a found value for "got …": `"three"`, `3.5`, `null`, `a list`, `an object`. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list';
  if (typeof value === 'string') return quoteText(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** `pipeline.yaml:14:9 steps.train.retry.attempts: expected a whole number ≥ 1, got "three"`. */
function formatIssue(file: string, issue: PipelineIssue): string {
  const where = issue.position ? `${file}:${issue.position.line}:${issue.position.column}` : file;
  const path = formatPath(issue.path);
  return `${escapeText(where)}${path === '' ? '' : ` ${path}`}: ${boundMessage(issue.message)}`;
}

/** Fills in the positions of issues that a locator can find. */
export function locateIssues(
  issues: readonly PipelineIssue[],
  locate: SourceLocator | undefined,
): PipelineIssue[] {
  if (!locate) return [...issues];
  return issues.map((issue) => {
    if (issue.position) return issue;
    const position = locate(issue.path, issue.target ?? 'value');
    return position ? { ...issue, position } : issue;
  });
}

/** The one error that reports every issue of a pipeline, in file order where positions are known. */
export function pipelineInvalidError(file: string, issues: readonly PipelineIssue[]): CoreError {
  return issuesError('CORE_PIPELINE_INVALID', `Invalid pipeline ${escapeText(file)}`, file, issues);
}

/**
 * One error listing issues of a file in file order where positions are known: at most
 * {@link MAX_LISTED_ISSUES} are listed (in the message and in `details.issues`), the others counted
 * (`details.total` has them all), so that a file of garbage cannot print megabytes of errors.
 */
export function issuesError(
  code: CoreErrorCode,
  title: string,
  file: string,
  issues: readonly PipelineIssue[],
  extraDetails: Record<string, unknown> = {},
): CoreError {
  const sorted = issues
    .map((issue, index) => ({ issue, index }))
    .sort(
      (a, b) =>
        (a.issue.position?.line ?? Infinity) - (b.issue.position?.line ?? Infinity) ||
        (a.issue.position?.column ?? 0) - (b.issue.position?.column ?? 0) ||
        a.index - b.index,
    )
    .slice(0, MAX_LISTED_ISSUES)
    .map(({ issue }) => issue);
  const details: PipelineIssueDetail[] = sorted.map((issue) => ({
    path: formatPath(issue.path),
    message: boundMessage(issue.message),
    ...(issue.position && { line: issue.position.line, column: issue.position.column }),
    text: formatIssue(file, issue),
  }));
  const total = issues.length;
  const count = total === 1 ? '1 issue' : `${total.toLocaleString('en-US')} issues`;
  const lines = [`${title} (${count}):`, ...details.map((d) => `  ${d.text}`)];
  if (total > details.length) lines.push(`  … and ${(total - details.length).toLocaleString('en-US')} more`);
  return new CoreError(code, lines.join('\n'), {
    details: { ...extraDetails, file, issues: details, total },
  });
}
