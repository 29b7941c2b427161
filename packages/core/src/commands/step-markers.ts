import type { StepEvent } from '../contracts/command.js';

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
 * Finds the marker lines in a chunk of whole lines (UTF-8 bytes). Cheap for ordinary output: it only
 * decodes lines that start with `::` and never splits the chunk into lines.
 */
export function scanMarkers(chunk: Buffer): StepMarker[] {
  const markers: StepMarker[] = [];
  let start = chunk[0] === COLON && chunk[1] === COLON ? 0 : nextMarkerLine(chunk, 0);
  while (start !== -1) {
    let end = chunk.indexOf(NEWLINE, start);
    if (end === -1) end = chunk.length;
    const marker = parseMarker(chunk.toString('utf8', start, end));
    if (marker !== undefined) markers.push(marker);
    start = nextMarkerLine(chunk, end);
  }
  return markers;
}

const COLON = 0x3a;
const NEWLINE = 0x0a;
const MARKER_LINE = Buffer.from('\n::');

/** Start of the next line that begins with `::`, or -1. */
function nextMarkerLine(chunk: Buffer, from: number): number {
  const at = chunk.indexOf(MARKER_LINE, from);
  return at === -1 ? -1 : at + 1;
}

function parseValue(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}
