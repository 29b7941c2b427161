import { describe, expect, it } from 'vitest';
import { chatLiteral, codeBlock, truncate } from './chat-text.js';

describe('chat text', () => {
  it('makes Slack control sequences and mass mentions literal', () => {
    expect(chatLiteral('<!channel> & <https://evil.example|click>')).toBe(
      '&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;',
    );
    expect(chatLiteral('hey @channel, @here and @All; mail me@example.org')).toBe(
      'hey @\u200bchannel, @\u200bhere and @\u200bAll; mail me@example.org',
    );
  });

  it('escapes control characters; keeps line breaks only where asked', () => {
    expect(chatLiteral('a\nb\u001b[31m')).toBe('a\\nb\\u001b[31m');
    expect(chatLiteral('a\nb\u0000', true)).toBe('a\nb\\u0000');
  });

  it('keeps a code block closed whatever it holds', () => {
    const block = codeBlock('before ``` after');
    expect(block.startsWith('```\n') && block.endsWith('\n```')).toBe(true);
    expect(block.slice(4, -4)).not.toContain('```');
  });

  it('cuts long text with an ellipsis, never inside a surrogate pair', () => {
    expect(truncate('abcdef', 4)).toBe('abc…');
    expect(truncate('ab😀😀', 4)).toBe('ab…');
    expect(truncate('short', 10)).toBe('short');
  });
});
