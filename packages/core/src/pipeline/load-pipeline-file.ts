import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { PipelineDefinition } from '../contracts/pipeline.js';
import { CoreError } from '../errors/core-error.js';
import {
  locateIssues,
  pipelineInvalidError,
  type PipelineIssue,
  type SourceLocator,
} from './pipeline-issue.js';
import { validatePipelineShape } from './pipeline-schema.js';
import { rememberPipelineSource, yamlLocator } from './pipeline-source.js';

interface ParsedText {
  value: unknown;
  locate?: SourceLocator;
  syntaxIssues: PipelineIssue[];
}

function readYaml(text: string): ParsedText {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, logLevel: 'error' });
  const locate = yamlLocator(document, lineCounter);
  if (document.errors.length > 0) {
    const syntaxIssues = document.errors.map((error) => {
      const { line, col } = lineCounter.linePos(error.pos[0]);
      return { path: [], position: { line, column: col }, message: `YAML syntax error: ${error.message}` };
    });
    return { value: undefined, locate, syntaxIssues };
  }
  try {
    return { value: document.toJS({ maxAliasCount: 100 }) as unknown, locate, syntaxIssues: [] };
  } catch (error) {
    // An alias to an anchor that is not set (yet), or one that expands too much (a "billion laughs"
    // file), only shows when the document is turned into values: it is a syntax issue like any other.
    const message = error instanceof Error ? error.message : String(error);
    return { value: undefined, locate, syntaxIssues: [{ path: [], message: `YAML error: ${message}` }] };
  }
}

function readJson(text: string): ParsedText {
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // V8 says "… in JSON at position N"; lines are what people look for.
    const offset = Number(/at position (\d+)/.exec(message)?.[1] ?? Number.NaN);
    const before = Number.isNaN(offset) ? undefined : text.slice(0, offset).split('\n');
    const position = before && { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
    const reason = message.replace(/ in JSON at position \d+.*$/s, '');
    return {
      value: undefined,
      syntaxIssues: [{ path: [], ...(position && { position }), message: `JSON syntax error: ${reason}` }],
    };
  }
  // JSON is YAML: its document gives the positions of valid JSON.
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, logLevel: 'error' });
  return {
    value,
    ...(document.errors.length === 0 && { locate: yamlLocator(document, lineCounter) }),
    syntaxIssues: [],
  };
}

/**
 * Parses and structurally validates pipeline text: JSON when `source` ends in `.json`, YAML otherwise.
 * `source` names the text in errors. Throws one `CORE_PIPELINE_INVALID` listing every syntax or structural
 * issue as `file:line:column path: expected …, got …`. Semantic checks (needs, expressions, commands) are
 * `planPipeline`'s; it reports them with lines too for definitions that come from here.
 */
export function parsePipeline(text: string, source: string): PipelineDefinition {
  const parsed = extname(source).toLowerCase() === '.json' ? readJson(text) : readYaml(text);
  if (parsed.syntaxIssues.length > 0) throw pipelineInvalidError(source, parsed.syntaxIssues);
  const issues = validatePipelineShape(parsed.value);
  if (issues.length > 0) throw pipelineInvalidError(source, locateIssues(issues, parsed.locate));
  const definition = parsed.value as PipelineDefinition;
  rememberPipelineSource(definition, { file: source, ...(parsed.locate && { locate: parsed.locate }) });
  return definition;
}

/** Reads a pipeline file (YAML, or JSON by its `.json` extension) and validates its structure; see {@link parsePipeline}. */
export async function loadPipelineFile(path: string): Promise<PipelineDefinition> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new CoreError('CORE_PIPELINE_INVALID', `Cannot read pipeline file ${path}: ${reason}`, {
      cause: error,
      details: { file: path, issues: [] },
    });
  }
  return parsePipeline(text, path);
}
