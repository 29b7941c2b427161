import { CoreError } from '../errors/core-error.js';

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

/** `steps.train.needs[0]`, `steps.train.with['a.b']`. */
export function formatPath(path: readonly PathSegment[]): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (IDENTIFIER.test(segment)) text += text === '' ? segment : `.${segment}`;
    else text += `['${segment}']`;
  }
  return text;
}

/** A short description of a found value for "got …": `"three"`, `3.5`, `null`, `a list`, `an object`. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list';
  if (typeof value === 'string') {
    const quoted = JSON.stringify(value);
    return quoted.length > 60 ? `${quoted.slice(0, 57)}…"` : quoted;
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** `pipeline.yaml:14:9 steps.train.retry.attempts: expected a whole number ≥ 1, got "three"`. */
export function formatIssue(file: string, issue: PipelineIssue): string {
  const where = issue.position ? `${file}:${issue.position.line}:${issue.position.column}` : file;
  const path = formatPath(issue.path);
  return `${where}${path === '' ? '' : ` ${path}`}: ${issue.message}`;
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
  const sorted = issues
    .map((issue, index) => ({ issue, index }))
    .sort(
      (a, b) =>
        (a.issue.position?.line ?? Infinity) - (b.issue.position?.line ?? Infinity) ||
        (a.issue.position?.column ?? 0) - (b.issue.position?.column ?? 0) ||
        a.index - b.index,
    )
    .map(({ issue }) => issue);
  const details: PipelineIssueDetail[] = sorted.map((issue) => ({
    path: formatPath(issue.path),
    message: issue.message,
    ...(issue.position && { line: issue.position.line, column: issue.position.column }),
    text: formatIssue(file, issue),
  }));
  const count = details.length === 1 ? '1 issue' : `${details.length} issues`;
  const message = [`Invalid pipeline ${file} (${count}):`, ...details.map((d) => `  ${d.text}`)].join('\n');
  return new CoreError('CORE_PIPELINE_INVALID', message, { details: { file, issues: details } });
}
