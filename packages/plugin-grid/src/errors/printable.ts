/** Control characters, line and paragraph separators, bidirectional overrides, and what escaping uses. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069"\\]/g;

/**
 * A name from outside (a file list, a catalogue) made safe to print: control characters, NUL, DEL and
 * the C1 range become escapes, so a crafted entry cannot rewrite the terminal or hide in a log line.
 * The result is quoted, which also shows leading and trailing spaces.
 */
export function printable(text: string): string {
  const escaped = text.replace(UNPRINTABLE, (c) => {
    switch (c) {
      case '\n':
        return '\\n';
      case '\r':
        return '\\r';
      case '\t':
        return '\\t';
      case '"':
        return '\\"';
      case '\\':
        return '\\\\';
      default: {
        const code = c.charCodeAt(0);
        return code < 0x100
          ? `\\x${code.toString(16).padStart(2, '0')}`
          : `\\u${code.toString(16).padStart(4, '0')}`;
      }
    }
  });
  return `"${escaped}"`;
}
