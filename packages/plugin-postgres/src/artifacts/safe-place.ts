import { lstat, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { quoteText } from '@beamline/core';
import { PostgresError } from '../errors/postgres-error.js';

/** Longest relative name accepted from a worker (bytes of UTF-8), and longest single component. */
const MAX_NAME_BYTES = 4096;
const MAX_COMPONENT_BYTES = 255;

/**
 * Checks a file name relative to a run's folder as a worker reports it, and returns its components:
 * `/`-separated, no empty, `.` or `..` component, not absolute, no NUL, no backslash, bounded length.
 * @throws PostgresError `POSTGRES_ARTIFACT_INVALID` naming the problem.
 */
export function relativeComponents(name: unknown, from: string): string[] {
  const refuse = (why: string): PostgresError =>
    new PostgresError(
      'POSTGRES_ARTIFACT_INVALID',
      `${from} names the file ${typeof name === 'string' ? quoteText(name) : JSON.stringify(name)}, refused: ${why}`,
      { details: { name: typeof name === 'string' ? name : null } },
    );
  if (typeof name !== 'string' || name === '') throw refuse('expected a non-empty relative path');
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) throw refuse(`longer than ${MAX_NAME_BYTES} bytes`);
  if (name.startsWith('/')) throw refuse('an absolute path; only names inside the run’s folder are accepted');
  if (name.includes('\0')) throw refuse('it contains a NUL byte');
  if (name.includes('\\')) throw refuse('it contains a backslash');
  const components = name.split('/');
  for (const component of components) {
    if (component === '' || component === '.') throw refuse('an empty or "." component');
    if (component === '..') throw refuse('a ".." component would leave the run’s folder');
    if (Buffer.byteLength(component) > MAX_COMPONENT_BYTES)
      throw refuse(`a component longer than ${MAX_COMPONENT_BYTES} bytes`);
  }
  return components;
}

/**
 * Makes the folders of `components` (all but the last) under `root`, never through a link: each existing
 * component must be a real folder (`lstat`), a missing one is created. Returns the file's absolute path,
 * whose current entry, if any, must be a regular file (it is then replaced by a rename).
 * @throws PostgresError `POSTGRES_ARTIFACT_INVALID` for a link or a non-folder on the way.
 */
export async function preparePlace(
  root: string,
  components: readonly string[],
  from: string,
): Promise<string> {
  let current = root;
  const name = components.join('/');
  const refuse = (why: string): PostgresError =>
    new PostgresError(
      'POSTGRES_ARTIFACT_INVALID',
      `${from}: cannot place ${quoteText(name)} under ${root}: ${why}`,
      {
        details: { root, name },
      },
    );
  for (const [index, component] of components.entries()) {
    current = path.join(current, component);
    const last = index === components.length - 1;
    let stat;
    try {
      stat = await lstat(current);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        throw refuse(String((error as NodeJS.ErrnoException).code));
      if (last) return current;
      try {
        await mkdir(current);
      } catch (made) {
        if ((made as NodeJS.ErrnoException).code !== 'EEXIST')
          throw refuse(String((made as NodeJS.ErrnoException).code));
        // Made by someone else meanwhile: checked as an existing entry on the next pass.
        stat = await lstat(current);
        if (!stat.isDirectory()) throw refuse(`${current} is not a folder`);
      }
      continue;
    }
    if (stat.isSymbolicLink()) throw refuse(`${current} is a symbolic link, which is never followed`);
    if (last) {
      if (!stat.isFile()) throw refuse(`${current} exists and is not a regular file`);
      return current;
    }
    if (!stat.isDirectory()) throw refuse(`${current} is not a folder`);
  }
  return current;
}
