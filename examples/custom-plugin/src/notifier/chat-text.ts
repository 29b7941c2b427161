import { escapeText } from '@beamline/core';

/** Longest message text posted; Mattermost's default limit is 16,383 characters, Slack cuts at 40,000. */
export const MAX_MESSAGE_CHARS = 4000;

/**
 * Text from a run (step ids, error messages, program output) made literal for Slack and Mattermost:
 * `&`, `<`, `>` escaped as Slack requires (so `<!channel>` or `<https://…|link>` is shown, not acted on),
 * mass mentions (`@channel`, `@here`, `@all`, `@everyone`) broken with a zero-width space, and control
 * characters escaped. Line breaks are kept when `multiline`.
 */
export function chatLiteral(text: string, multiline = false): string {
  const visible = multiline ? text.split('\n').map(escapeText).join('\n') : escapeText(text);
  return visible
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/@(channel|here|all|everyone)\b/gi, '@\u200b$1');
}

/** A fenced code block holding `text` literally: a ``` inside it cannot close the fence. */
export function codeBlock(text: string): string {
  return '```\n' + chatLiteral(text, true).replace(/```/g, '`\u200b``') + '\n```';
}

/** `text` cut to at most `max` characters (a cut text ends in `…`), never inside a surrogate pair. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const chars = Array.from(text);
  let result = '';
  for (const char of chars) {
    if (result.length + char.length > max - 1) break;
    result += char;
  }
  return `${result}…`;
}
