/** Longest quoted excerpt of a found value or of the source, in characters, quotes included. */
export const MAX_EXCERPT_CHARS = 80;

/**
 * Characters never printed as they are: C0 and C1 controls (NUL, ESC, …), DEL, and the line, paragraph
 * and bidirectional-override marks that make a terminal line lie about its content.
 */
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** `text` with every unprintable character escaped (`\n`, `\u0000`, `\u001b`); nothing else changes. */
export function escapeText(text: string): string {
  return text.replace(UNPRINTABLE, escapeChar);
}

function escapeChar(char: string): string {
  switch (char) {
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    default:
      return `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
  }
}

/**
 * `text` in double quotes, escaped (quotes, backslashes and unprintable characters) and at most `max`
 * characters long: a longer text is cut, never inside an escape, and ends in `…"`.
 */
export function quoteText(text: string, max = MAX_EXCERPT_CHARS): string {
  let quoted = '"';
  for (const char of text) {
    const piece = char === '"' || char === '\\' ? `\\${char}` : escapeText(char);
    if (quoted.length + piece.length > max - 2) return `${quoted}…"`;
    quoted += piece;
  }
  return `${quoted}"`;
}
