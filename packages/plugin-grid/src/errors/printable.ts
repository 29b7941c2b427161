import { quoteText } from '@beamline/core';

/** Longest name quoted in full: a path the kernel accepts (PATH_MAX), so no real name is ever cut. */
const MAX_PRINTED_CHARS = 4096;

/**
 * A name from outside (a file list, a catalogue) made safe to print with core's `quoteText`: quoted,
 * control characters, NUL, DEL, the C1 range and bidirectional overrides escaped, so a crafted entry
 * cannot rewrite the terminal or hide in a log line; a hostile name longer than any path is cut.
 */
export function printable(text: string): string {
  return quoteText(text, MAX_PRINTED_CHARS);
}
