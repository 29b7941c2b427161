import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PetricError } from './errors.js';
import { NAME } from './run/evaluate-command.js';

/** A queued submission: what a tag push was in the original. */
export interface Submission {
  team: string;
  version: string;
  /** The image as given (`--image`) or built (`petric-<team>:<version>`); absent for a local one. */
  imageRef?: string;
  /** The image it runs as, by content (`sha256:…`): a later re-tag cannot change what runs. */
  imageId?: string;
  /** What runs, in the image or on this host. */
  command: string[];
  submittedAt: string;
}

/** Checks a team, version or dataset name (one safe path segment). */
export function checkName(what: string, value: string): string {
  if (!NAME.test(value)) {
    throw new PetricError(
      'PETRIC_SUBMISSION_INVALID',
      `${what} ${JSON.stringify(value)} is not a valid name: letters, digits, ".", "_" or "-", starting with a letter or digit, at most 100`,
    );
  }
  return value;
}

/** Records a submission under `<root>/submissions/<team>/<version>.json` (replacing one with the same version). */
export async function saveSubmission(root: string, submission: Submission): Promise<string> {
  checkName('team', submission.team);
  checkName('version', submission.version);
  const dir = join(root, 'submissions', submission.team);
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${submission.version}.json`);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(submission, null, 2) + '\n');
  await rename(tmp, path);
  return path;
}

/** Every queued submission, sorted by team and version; a damaged record is an error naming its file. */
export async function listSubmissions(root: string): Promise<Submission[]> {
  const base = join(root, 'submissions');
  let teams: string[];
  try {
    teams = (await readdir(base)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const out: Submission[] = [];
  for (const team of teams) {
    if (!NAME.test(team)) continue;
    for (const file of (await readdir(join(base, team))).sort()) {
      if (!file.endsWith('.json')) continue;
      const path = join(base, team, file);
      let s: Submission;
      try {
        s = JSON.parse(await readFile(path, 'utf8')) as Submission;
      } catch (error) {
        throw new PetricError(
          'PETRIC_SUBMISSION_INVALID',
          `${path}: not a submission record (${(error as Error).message})`,
          { cause: error },
        );
      }
      if (
        s.team !== team ||
        `${s.version}.json` !== file ||
        !Array.isArray(s.command) ||
        s.command.length === 0
      ) {
        throw new PetricError(
          'PETRIC_SUBMISSION_INVALID',
          `${path}: team, version or command do not match the file`,
        );
      }
      out.push(s);
    }
  }
  return out;
}
