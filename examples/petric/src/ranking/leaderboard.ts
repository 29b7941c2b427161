import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { collectRuns, type CollectOptions, type CollectWarning } from './collect.js';
import { rank, type Ranking } from './rank.js';
import { leaderboardJson, leaderboardMarkdown, ranksSvg } from './render.js';

/** File names {@link writeLeaderboard} writes. */
export const LEADERBOARD_FILES = {
  markdown: 'leaderboard.md',
  json: 'leaderboard.json',
  svg: 'ranks.svg',
} as const;

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, text, { mode: 0o664 });
  await rename(tmp, path);
}

/**
 * Ranks every log under `logdir` and writes `leaderboard.md`, `leaderboard.json` and `ranks.svg` to
 * `outdir` (each replaced atomically, so a reader never sees half a file).
 */
export async function writeLeaderboard(
  logdir: string,
  outdir: string,
  options: CollectOptions = {},
): Promise<{ ranking: Ranking; warnings: CollectWarning[] }> {
  const { entries, warnings } = await collectRuns(logdir, options);
  const ranking = rank(entries);
  await mkdir(outdir, { recursive: true });
  await writeAtomic(
    join(outdir, LEADERBOARD_FILES.markdown),
    leaderboardMarkdown(ranking, LEADERBOARD_FILES.svg),
  );
  await writeAtomic(
    join(outdir, LEADERBOARD_FILES.json),
    JSON.stringify(leaderboardJson(ranking), null, 2) + '\n',
  );
  await writeAtomic(join(outdir, LEADERBOARD_FILES.svg), ranksSvg(ranking));
  return { ranking, warnings };
}
