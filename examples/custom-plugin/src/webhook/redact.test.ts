import { describe, expect, it } from 'vitest';
import { createRedactor } from './redact.js';

describe('createRedactor', () => {
  const redact = createRedactor(['s3cr3t-token', 'https://chat.example/hooks/abc123def']);

  it('replaces listed secrets, also URL-encoded and inside longer text', () => {
    expect(redact('token=s3cr3t-token; again s3cr3t-tokens')).toBe('token=***; again ***s');
    expect(createRedactor(['p@ss w/rd!'])('?q=' + encodeURIComponent('p@ss w/rd!'))).toBe('?q=***');
    expect(redact('posting to https://chat.example/hooks/abc123def failed')).toBe('posting to *** failed');
  });

  it('replaces a longer secret before one it contains', () => {
    const nested = createRedactor(['abcdef', 'abcdefghij']);
    expect(nested('x abcdefghij y')).toBe('x *** y');
  });

  it('recognises credentials by their shape', () => {
    expect(redact('git clone https://alice:hunter22@git.example/repo')).toBe(
      'git clone https://***@git.example/repo',
    );
    expect(redact('Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc')).toBe('Authorization: Bearer ***');
    expect(redact('GET /file?x=1&access_token=abc&y=2')).toBe('GET /file?x=1&access_token=***&y=2');
    expect(redact('env: HF_TOKEN=hf_abcdef DB_PASSWORD=pw1 PATH=/bin')).toBe(
      'env: HF_TOKEN=*** DB_PASSWORD=*** PATH=/bin',
    );
    expect(redact('slack said xoxb-1234-5678-abcd')).toBe('slack said xox-***');
  });

  it('leaves ordinary text alone and ignores secrets too short to be safe', () => {
    expect(createRedactor(['ab', ''])('a tab and a stab')).toBe('a tab and a stab');
    expect(redact('step train failed: exit code 3')).toBe('step train failed: exit code 3');
  });
});
