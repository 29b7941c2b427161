import type { Explanation, KeyChange } from '@beamline/core';
import type { CliCommand } from '../cli-command.js';
import { ExitCode } from '../cli-io.js';
import { requireStore, using } from '../cli-services.js';
import { resolveRunId } from '../args/resolve-run-id.js';
import { colourEnabled, createStyle, type Style } from '../render/format.js';

/** `beamline explain <run-id> <step>`: the cache decision of a step. */
export const explainCommand: CliCommand = (program, { io, services, exit }) => {
  program
    .command('explain')
    .summary('explain why a step ran or was cached (which cache-key part changed)')
    .description(
      'Says why a step ran or was served from the cache: which part of its cache key (command, ' +
        'command version, parameters, inputs, runner) changed since the previous execution, before and after.',
    )
    .argument('<run-id>', 'the run (a unique start or end of its id is enough)')
    .argument('<step>', 'the step id')
    .option('--json', 'the explanation as one JSON object')
    .action(async (idOrPrefix, stepId, options) => {
      requireStore(services, io);
      const explanation = await using(services.openRuntime(io), async (runtime) =>
        runtime.explain(await resolveRunId(runtime.store, idOrPrefix), stepId),
      );
      if (options.json === true) io.stdout.write(`${JSON.stringify(explanation)}\n`);
      else
        io.stdout.write(formatExplanation(explanation, createStyle(colourEnabled(io.stdout.isTTY, io.env))));
      exit(ExitCode.ok);
    });
};

/** The human-readable form of an explanation. */
export function formatExplanation(explanation: Explanation, style: Style): string {
  const lines = [
    `${style.bold(explanation.stepId)}  ${explanation.status}  ${style.dim(`run ${explanation.runId}`)}`,
  ];
  if (explanation.key) lines.push(`  key           ${explanation.key}`);
  if (explanation.comparedWith) {
    lines.push(`  compared with run ${explanation.comparedWith.runId} (key ${explanation.comparedWith.key})`);
  }
  lines.push('', explanation.summary);
  if (explanation.changes.length > 0) {
    lines.push('', style.bold('Changed'));
    for (const change of explanation.changes) lines.push(...formatChange(change, style));
  }
  return `${lines.join('\n')}\n`;
}

/**
 * One key part's change. Parameters and inputs are objects (parameters as canonical JSON text): the
 * lines name the fields that differ rather than dumping both whole values.
 */
export function formatChange(change: KeyChange, style: Style): string[] {
  const before = parseJsonText(change.before);
  const after = parseJsonText(change.after);
  if (isRecord(before) && isRecord(after)) {
    const diffs = diffRecords(before, after, '');
    if (diffs.length > 0) {
      return diffs.map(
        ({ path, before: b, after: a }) =>
          `  ${change.part.padEnd(15)}${path}: ${style.red(show(b))} → ${style.green(show(a))}`,
      );
    }
  }
  return [`  ${change.part.padEnd(15)}${style.red(show(before))} → ${style.green(show(after))}`];
}

interface FieldDiff {
  path: string;
  before: unknown;
  after: unknown;
}

function diffRecords(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  prefix: string,
): FieldDiff[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys.flatMap((key) =>
    diffValues(ownValue(before, key), ownValue(after, key), prefix ? `${prefix}.${key}` : key),
  );
}

/** A parameter the other side lacks is `(none)`, even one named `constructor` or `toString`. */
function ownValue(record: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Objects by key and equally long lists (an argv) by position, so one changed flag reads as one line. */
function diffValues(before: unknown, after: unknown, path: string): FieldDiff[] {
  if (isRecord(before) && isRecord(after)) return diffRecords(before, after, path);
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    return before.flatMap((item: unknown, index) => diffValues(item, after[index], `${path}[${index}]`));
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [{ path, before, after }];
}

function parseJsonText(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function show(value: unknown): string {
  if (value === undefined) return '(none)';
  if (typeof value !== 'string') return JSON.stringify(value);
  // Input digests are 64 hex digits; the first 12 tell them apart.
  return /^[0-9a-f]{64}$/.test(value) ? `${value.slice(0, 12)}…` : value;
}
