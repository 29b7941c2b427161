import { formatBytes } from '@beamline/core';
import { etagOf } from '../http/conditional.js';
import { encodePath, encodeSegment } from '../http/request-path.js';
import type { Child } from '../server/children.js';

/** One entry of a listing. */
export interface ListingEntry {
  readonly name: string;
  readonly directory: boolean;
  readonly size: number;
  readonly modified: Date;
  readonly etag: string | undefined;
}

/** Listing entries from collection members. */
export function listingEntries(children: readonly Child[]): ListingEntry[] {
  return children.map((child) => ({
    name: child.name,
    directory: child.stats.isDirectory(),
    size: Number(child.stats.size),
    modified: new Date(Number(child.stats.mtimeMs)),
    etag: child.stats.isFile() ? etagOf(child.stats) : undefined,
  }));
}

function sortEntries(entries: ListingEntry[]): ListingEntry[] {
  return entries.sort((a, b) =>
    a.directory !== b.directory ? (a.directory ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

function formatDate(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** Content-Security-Policy of the listing page: no scripts, no outside resources. */
export const LISTING_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

/**
 * The HTML listing of a collection for browsers: a table of names (links), sizes and modification
 * dates, folders first, a link to the parent. Self-contained (inline style, no script).
 */
export function renderHtmlListing(
  urlSegments: readonly string[],
  entries: ListingEntry[],
  showParent: boolean,
): string {
  const title = `/${urlSegments.join('/')}${urlSegments.length > 0 ? '/' : ''}`;
  const base = encodePath(urlSegments, true);
  const rows: string[] = [];
  if (showParent)
    rows.push(
      `<tr><td class="n"><a href="${escapeHtml(encodePath(urlSegments.slice(0, -1), true))}">../</a></td><td class="s"></td><td class="d"></td></tr>`,
    );
  for (const entry of sortEntries(entries)) {
    const href = `${base}${encodeSegment(entry.name)}${entry.directory ? '/' : ''}`;
    const size = entry.directory ? '—' : formatBytes(entry.size);
    rows.push(
      `<tr><td class="n"><a href="${escapeHtml(href)}">${escapeHtml(entry.name)}${entry.directory ? '/' : ''}</a></td>` +
        `<td class="s" title="${entry.directory ? '' : `${entry.size} bytes`}">${size}</td>` +
        `<td class="d"><time datetime="${entry.modified.toISOString()}">${formatDate(entry.modified)}</time></td></tr>`,
    );
  }
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Index of ${escapeHtml(title)}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1b1f24}
h1{font-size:1.25rem;font-weight:600;word-break:break-all}
table{border-collapse:collapse;width:100%}th,td{padding:.35rem .6rem;text-align:left;border-bottom:1px solid #e3e6ea}
th{font-weight:600;color:#57606a}td.s,th.s{text-align:right;white-space:nowrap}td.d{white-space:nowrap;color:#57606a}
a{color:#0a58ca;text-decoration:none}a:hover{text-decoration:underline}td.n{word-break:break-all}
footer{margin-top:1rem;color:#8c959f;font-size:.85rem}
</style></head>
<body><h1>Index of ${escapeHtml(title)}</h1>
<table><thead><tr><th>Name</th><th class="s">Size</th><th>Modified</th></tr></thead><tbody>
${rows.join('\n')}
</tbody></table>
<footer>${entries.length} ${entries.length === 1 ? 'entry' : 'entries'}</footer>
</body></html>
`;
}

/** The JSON listing of a collection (`Accept: application/json`). */
export function renderJsonListing(urlSegments: readonly string[], entries: ListingEntry[]): string {
  const base = encodePath(urlSegments, true);
  return `${JSON.stringify({
    path: base,
    entries: sortEntries(entries).map((entry) => ({
      name: entry.name,
      href: `${base}${encodeSegment(entry.name)}${entry.directory ? '/' : ''}`,
      type: entry.directory ? 'directory' : 'file',
      size: entry.directory ? undefined : entry.size,
      modified: entry.modified.toISOString(),
      etag: entry.etag,
    })),
  })}\n`;
}

/** Whether a request prefers JSON over HTML (`Accept: application/json` ranked above `text/html`). */
export function wantsJson(accept: string | undefined): boolean {
  if (!accept) return false;
  let json = -1;
  let html = -1;
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.trim().toLowerCase().split(';');
    const q = Number(
      params
        .map((p) => p.trim())
        .find((p) => p.startsWith('q='))
        ?.slice(2) ?? '1',
    );
    if (type === 'application/json') json = Math.max(json, q);
    if (type === 'text/html') html = Math.max(html, q);
  }
  return json > 0 && json > html;
}
