import type { StepEvent } from '../../src/contracts/command.js';

/** What a marker line on stdout asks for: a step event, or a named step output. */
export type StepMarker =
  Extract<StepEvent, { type: 'metric' | 'progress' }> | { type: 'output'; name: string; value: unknown };

const NUMBER = String.raw`[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?`;
const METRIC = new RegExp(String.raw`^::metric\s+([^\s=]+)=(${NUMBER})(?:\s+step=(\d+))?\s*$`);
const PROGRESS = new RegExp(String.raw`^::progress\s+(${NUMBER})(?:\/(${NUMBER}))?(?:\s+(.*?))?\s*$`);
const OUTPUT = /^::output\s+([^\s=]+)=(.*)$/;

/**
 * Parses one line (without its newline) as a step marker:
 * `::metric <name>=<number> [step=<n>]`, `::progress <current>[/<total>] [message]` or
 * `::output <name>=<value>` (value JSON-parsed when it parses, else the raw string).
 * Returns undefined for any other line, including malformed markers, which stay plain log text.
 */
export function parseMarker(line: string): StepMarker | undefined {
  if (!line.startsWith('::')) return undefined;
  if (line.endsWith('\r')) line = line.slice(0, -1);
  let match: RegExpExecArray | null;
  if ((match = METRIC.exec(line)) !== null) {
    const [, name = '', value = '', step] = match;
    return {
      type: 'metric',
      name,
      value: Number(value),
      ...(step === undefined ? {} : { step: Number(step) }),
    };
  }
  if ((match = PROGRESS.exec(line)) !== null) {
    const [, current = '', total, message] = match;
    return {
      type: 'progress',
      current: Number(current),
      ...(total === undefined ? {} : { total: Number(total) }),
      ...(message === undefined || message === '' ? {} : { message }),
    };
  }
  if ((match = OUTPUT.exec(line)) !== null) {
    const [, name = '', raw = ''] = match;
    return { type: 'output', name, value: parseValue(raw) };
  }
  return undefined;
}

/**
 * Finds the marker lines in a chunk of whole lines. Cheap for ordinary output: it only looks at lines
 * that start with `::` and never splits the chunk into lines.
 */
export function scanMarkers(text: string): StepMarker[] {
  const markers: StepMarker[] = [];
  let start = text.startsWith('::') ? 0 : nextMarkerLine(text, 0);
  while (start !== -1) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const marker = parseMarker(text.slice(start, end));
    if (marker !== undefined) markers.push(marker);
    start = nextMarkerLine(text, end);
  }
  return markers;
}

/** Start of the next line that begins with `::`, or -1. */
function nextMarkerLine(text: string, from: number): number {
  const at = text.indexOf('\n::', from);
  return at === -1 ? -1 : at + 1;
}

function parseValue(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}
