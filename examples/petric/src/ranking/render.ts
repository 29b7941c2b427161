import type { DatasetRow, Ranking } from './rank.js';

/** Escapes text for HTML and SVG (element content and quoted attributes). */
export function escapeMarkup(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** tqdm's `format_interval` (`MM:SS` or `H:MM:SS`), `--:--` for an infinite or undefined time. */
export function formatInterval(seconds: number): string {
  if (Number.isNaN(seconds) || seconds === Infinity) return '--:--';
  const total = Math.trunc(seconds);
  const mins = Math.floor(total / 60);
  const s = total - mins * 60;
  const h = Math.floor(mins / 60);
  const m = mins - h * 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${pad(m)}:${pad(s)}`;
}

/** Python's `f"{x:.2f}"` (inf, -inf, nan spelled as Python does). */
export function formatFixed2(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  return x.toFixed(2);
}

/** `leaderboard.md`: one table per dataset, then the overall order, as `rank/compute.py` prints it. */
export function leaderboardMarkdown(ranking: Ranking, plot = 'ranks.svg'): string {
  const lines: string[] = [];
  for (const { name, rows } of ranking.datasets) {
    lines.push(
      `## ${name}`,
      'Rank|Algorithm|Time|Time (stdev)|Avg > thresh',
      '---:|---------|---:|-----------:|-----------:',
    );
    for (const r of rows) {
      lines.push(
        `${r.rank}|${markdownText(r.algorithm)}|${formatInterval(r.time)}|${formatInterval(r.timeStdev)}|${formatFixed2(r.distance)}`,
      );
    }
    lines.push('');
  }
  lines.push('## Leaderboard', `![](${plot})`);
  for (const o of ranking.overall) lines.push(`${o.position}) ${markdownText(o.algorithm)}`);
  return lines.join('\n') + '\n';
}

function markdownText(text: string): string {
  return text.replace(/[\\`*_[\]<>|#!]/g, (c) => `\\${c}`);
}

const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** The ranking as JSON data: infinite or undefined numbers are `null`. */
export function leaderboardJson(ranking: Ranking): unknown {
  const row = (r: DatasetRow) => ({
    rank: r.rank,
    algorithm: r.algorithm,
    time: finite(r.time),
    timeStdev: finite(r.timeStdev),
    distance: finite(r.distance),
    runs: r.runs,
    passed: Number.isFinite(r.time),
  });
  return {
    datasets: ranking.datasets.map((d) => ({ name: d.name, rows: d.rows.map(row) })),
    overall: ranking.overall,
    averageTimes: ranking.averageTimes,
  };
}

/**
 * The plot `rank/compute.py` draws with matplotlib ("Average time to reach threshold", one horizontal
 * bar per algorithm that passed somewhere, first at the top), as a self-contained SVG.
 */
export function ranksSvg(ranking: Ranking): string {
  const bars = ranking.averageTimes;
  const labelWidth = Math.max(60, ...bars.map((b) => b.algorithm.length * 7 + 10));
  const plotWidth = 320;
  const barHeight = 24;
  const top = 36;
  const height = top + Math.max(1, bars.length) * barHeight + 46;
  const width = labelWidth + plotWidth + 30;
  const max = Math.max(0, ...bars.map((b) => b.seconds)) || 1;
  const ticks = niceTicks(max);
  const scale = plotWidth / ticks[ticks.length - 1]!;
  const x0 = labelWidth;
  const yAxis = top + Math.max(1, bars.length) * barHeight;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>Average time to reach threshold</title>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${x0 + plotWidth / 2}" y="20" text-anchor="middle" font-size="14">Average time to reach threshold</text>`,
  ];
  bars.forEach((b, i) => {
    const y = top + i * barHeight + 3;
    const w = Math.max(0, b.seconds) * scale;
    out.push(
      `<g class="bar"><text x="${x0 - 6}" y="${y + barHeight / 2 + 1}" text-anchor="end">${escapeMarkup(b.algorithm)}</text>` +
        `<rect x="${x0}" y="${y}" width="${w.toFixed(2)}" height="${barHeight - 6}" fill="#1f77b4"><title>${escapeMarkup(b.algorithm)}: ${b.seconds.toFixed(1)} s</title></rect></g>`,
    );
  });
  out.push(`<line x1="${x0}" y1="${top}" x2="${x0}" y2="${yAxis}" stroke="#000"/>`);
  out.push(`<line x1="${x0}" y1="${yAxis}" x2="${x0 + plotWidth}" y2="${yAxis}" stroke="#000"/>`);
  for (const t of ticks) {
    const x = (x0 + t * scale).toFixed(2);
    out.push(
      `<line x1="${x}" y1="${yAxis}" x2="${x}" y2="${yAxis + 4}" stroke="#000"/><text x="${x}" y="${yAxis + 16}" text-anchor="middle">${t}</text>`,
    );
  }
  out.push(
    `<text x="${x0 + plotWidth / 2}" y="${yAxis + 36}" text-anchor="middle">Average Time, t/[s]</text>`,
    '</svg>',
  );
  return out.join('\n') + '\n';
}

function niceTicks(max: number): number[] {
  const rough = max / 4;
  const pow = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= rough) ?? 10 * pow;
  const ticks: number[] = [];
  for (let t = 0; t <= max + step - 1e-9 * step; t += step) ticks.push(Number(t.toPrecision(12)));
  if (ticks[ticks.length - 1]! < max) ticks.push(Number((ticks.length * step).toPrecision(12)));
  return ticks;
}
