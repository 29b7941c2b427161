import type { Readable } from 'node:stream';
import { digestSecret, hashPassword } from '@beamline/plugin-webdav';
import { CliError } from '../cli-error.js';
import type { CliIO } from '../cli-io.js';

/** The longest password accepted (scrypt takes any length; this bounds what is read from a pipe). */
const MAX_PASSWORD = 4096;

type Input = Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };

/** The first line of a pipe or file (without its line end). */
async function readLine(input: Input): Promise<string> {
  let text = '';
  for await (const chunk of input) {
    text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
    if (text.includes('\n') || text.length > MAX_PASSWORD) break;
  }
  input.pause();
  return (text.split('\n')[0] ?? '').replace(/\r$/, '');
}

/** One password typed at a terminal, not echoed (raw mode; backspace edits, Ctrl-C cancels). */
function readHidden(input: Input, io: CliIO, prompt: string): Promise<string> {
  // Echo off before the prompt shows: what is typed in answer to it is never echoed.
  input.setRawMode?.(true);
  io.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let text = '';
    const done = (error?: Error): void => {
      input.off('data', onData);
      input.setRawMode?.(false);
      input.pause();
      io.stderr.write('\n');
      if (error) reject(error);
      else resolve(text);
    };
    const onData = (chunk: Buffer | string): void => {
      for (const char of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return done();
        if (char === '\u0003' || char === '\u0004')
          return done(new CliError('CLI_USAGE', 'cancelled: no password hashed.'));
        if (char === '\u007f' || char === '\b') text = text.slice(0, -1);
        else if (char >= ' ') text += char;
        if (text.length > MAX_PASSWORD) return done(new CliError('CLI_USAGE', 'password too long.'));
      }
    };
    input.on('data', onData);
    input.resume();
  });
}

/**
 * `beamline serve webdav --hash-password`: reads a password from stdin (typed twice at a terminal,
 * without echo; the first line of a pipe otherwise; never from the command line, where other users
 * and the shell history would see it) and prints its scrypt hash for a shares configuration's
 * `users.<name>.password`. With `digest` (a user and the configuration's realm), prints the user's
 * whole entry instead, with the Digest secret (`MD5(user:realm:password)`) Windows clients need.
 */
export async function printPasswordHash(
  io: CliIO,
  digest?: { readonly user: string; readonly realm: string },
  input: Input = process.stdin,
): Promise<void> {
  let password: string;
  if (input.isTTY) {
    password = await readHidden(input, io, 'Password: ');
    const again = await readHidden(input, io, 'Again: ');
    if (again !== password) throw new CliError('CLI_USAGE', 'the two passwords differ: nothing hashed.');
  } else password = await readLine(input);
  if (password === '') throw new CliError('CLI_USAGE', 'empty password on stdin: nothing hashed.');
  if (password.length > MAX_PASSWORD)
    throw new CliError('CLI_USAGE', `password longer than ${MAX_PASSWORD} characters.`);
  const hash = await hashPassword(password);
  if (!digest) {
    io.stdout.write(`${hash}\n`);
    return;
  }
  const secret = digestSecret(digest.user, digest.realm, password);
  io.stdout.write(`${JSON.stringify(digest.user)}: { password: '${hash}', digest: ${secret} }\n`);
}
