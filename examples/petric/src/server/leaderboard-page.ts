import { escapeMarkup as esc, formatFixed2, formatInterval, ranksSvg } from '../ranking/render.js';
import type { Ranking } from '../ranking/rank.js';

/** The leaderboard's body: overall order, the plot, per-dataset tables, per-team drill-down. */
export function leaderboardFragment(ranking: Ranking, updated: Date): string {
  const teams = new Map<string, string[]>();
  for (const { algorithm } of ranking.overall) {
    const [team = algorithm] = algorithm.split('/');
    teams.set(team, [...(teams.get(team) ?? []), algorithm]);
  }
  const teamLink = (algorithm: string) => {
    const [team = algorithm] = algorithm.split('/');
    return `<a href="#team-${encodeURIComponent(team)}">${esc(algorithm)}</a>`;
  };
  const out: string[] = [
    `<p class="updated">Updated ${esc(updated.toISOString().replace('T', ' ').slice(0, 19))} UTC</p>`,
  ];
  if (ranking.overall.length === 0) {
    out.push('<p>No results yet.</p>');
    return out.join('\n');
  }
  out.push(
    '<h2>Leaderboard</h2>',
    '<table id="overall"><thead><tr><th>Position</th><th>Algorithm</th><th>Sum of ranks</th></tr></thead><tbody>',
  );
  for (const o of ranking.overall)
    out.push(`<tr><td>${o.position}</td><td>${teamLink(o.algorithm)}</td><td>${o.rankSum}</td></tr>`);
  out.push('</tbody></table>', `<figure>${ranksSvg(ranking)}</figure>`);
  for (const { name, rows } of ranking.datasets) {
    out.push(
      `<h2>${esc(name)}</h2>`,
      '<table class="dataset"><thead><tr><th>Rank</th><th>Algorithm</th><th>Time</th><th>Time (stdev)</th><th>Avg &gt; thresh</th><th>Runs</th></tr></thead><tbody>',
    );
    for (const r of rows) {
      out.push(
        `<tr><td>${r.rank}</td><td>${teamLink(r.algorithm)}</td><td>${formatInterval(r.time)}</td><td>${formatInterval(r.timeStdev)}</td><td>${formatFixed2(r.distance)}</td><td>${r.runs}</td></tr>`,
      );
    }
    out.push('</tbody></table>');
  }
  out.push('<h2>Teams</h2>');
  for (const [team, algorithms] of teams) {
    out.push(
      `<section id="team-${esc(encodeURIComponent(team))}"><h3>${esc(team)}</h3><table><thead><tr><th>Version</th><th>Dataset</th><th>Rank</th><th>Time</th><th>Avg &gt; thresh</th><th>Logs</th></tr></thead><tbody>`,
    );
    for (const algorithm of algorithms) {
      for (const { name, rows } of ranking.datasets) {
        const r = rows.find((x) => x.algorithm === algorithm);
        if (!r) continue;
        const logs = `/logs/${algorithm.split('/').map(encodeURIComponent).join('/')}/${encodeURIComponent(name)}/`;
        out.push(
          `<tr><td>${esc(algorithm.slice(team.length + 1))}</td><td>${esc(name)}</td><td>${r.rank}</td><td>${formatInterval(r.time)}</td><td>${formatFixed2(r.distance)}</td><td>${r.runs ? `<a href="${esc(logs)}">logs</a>` : ''}</td></tr>`,
        );
      }
    }
    out.push('</tbody></table></section>');
  }
  return out.join('\n');
}

/** The whole page: the fragment, refreshed in place every few seconds while the page is open. */
export function leaderboardPage(fragment: string, refreshSeconds: number): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>PETRIC leaderboard</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.75em; text-align: right; }
th:nth-child(2), td:nth-child(2) { text-align: left; }
.updated { color: #666; font-size: 0.9em; }
nav a { margin-right: 1em; }
</style>
</head>
<body>
<h1>PETRIC leaderboard</h1>
<nav><a href="/data/">Data</a><a href="/data-wip/">Data (work in progress)</a><a href="/logs/">TensorBoard logs</a><a href="/leaderboard/leaderboard.md">leaderboard.md</a><a href="/leaderboard/leaderboard.json">JSON</a></nav>
<main id="board">
${fragment}
</main>
<script src="/leaderboard/refresh.js" data-seconds="${refreshSeconds}"></script>
</body>
</html>
`;
}

/** Refreshes `#board` from `/leaderboard/fragment`; kept out of the page so the page can forbid inline scripts. */
export const REFRESH_SCRIPT = `(() => {
  const seconds = Number(document.currentScript.dataset.seconds) || 5;
  let last = '';
  async function refresh() {
    try {
      const res = await fetch('/leaderboard/fragment', { cache: 'no-store' });
      if (res.ok) {
        const html = await res.text();
        const body = html.replace(/<p class="updated">.*?<\\/p>/, '');
        if (body !== last) {
          last = body;
          document.getElementById('board').innerHTML = html;
        }
      }
    } catch {}
    setTimeout(refresh, seconds * 1000);
  }
  setTimeout(refresh, seconds * 1000);
})();
`;
