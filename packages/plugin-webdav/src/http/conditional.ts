import type { BigIntStats, Stats } from 'node:fs';
import { HttpError } from './http-error.js';

/** What validators a resource has: its entity tag and modification time (undefined when it does not exist). */
export interface Validators {
  readonly etag: string | undefined;
  readonly lastModified: Date | undefined;
}

/**
 * Modification time in milliseconds exactly as Node computes `Stats.mtimeMs` (seconds × 1000 + ns /
 * 10⁶ in doubles), so plain and bigint stats of one file give the same value.
 */
function mtimeMsOf(stats: Stats | BigIntStats): number {
  if (!('mtimeNs' in stats)) return stats.mtimeMs;
  const ns = stats.mtimeNs;
  return Number(ns / 1_000_000_000n) * 1000 + Number(ns % 1_000_000_000n) / 1e6;
}

/**
 * Strong entity tag of a file: inode, size and modification time (to the microsecond: every atomic PUT
 * also makes a new inode). The same from plain stats (listings) and bigint stats (GET).
 */
export function etagOf(stats: Stats | BigIntStats): string {
  const time = Math.round(mtimeMsOf(stats) * 1000);
  return `"${stats.ino.toString(36)}-${stats.size.toString(36)}-${time.toString(36)}"`;
}

/** Last-Modified of a file, whole seconds (what HTTP dates carry). */
export function lastModifiedOf(stats: Stats | BigIntStats): Date {
  return new Date(Math.floor(mtimeMsOf(stats) / 1000) * 1000);
}

function splitTags(header: string): string[] {
  return header
    .split(',')
    .map((tag) => tag.trim())
    .filter(Boolean);
}

function opaque(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

function matches(header: string, etag: string | undefined, weak: boolean): boolean {
  if (etag === undefined) return false;
  for (const tag of splitTags(header)) {
    if (tag === '*') return true;
    if (weak ? opaque(tag) === opaque(etag) : !tag.startsWith('W/') && tag === etag) return true;
  }
  return false;
}

function httpDate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const time = Date.parse(value);
  return Number.isNaN(time) ? undefined : time;
}

/**
 * Evaluates the HTTP preconditions of RFC 7232 §6 in their order: `If-Match`, `If-Unmodified-Since`,
 * `If-None-Match`, `If-Modified-Since` (GET/HEAD only). Returns 304 for a GET/HEAD whose cached copy is
 * current; throws 412 for a failed precondition; returns undefined when the request proceeds.
 */
export function checkPreconditions(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  method: string,
  validators: Validators,
): 304 | undefined {
  const exists = validators.etag !== undefined;
  const ifMatch = headers['if-match'];
  const safe = method === 'GET' || method === 'HEAD';
  if (typeof ifMatch === 'string') {
    if (!exists || !matches(ifMatch, validators.etag, false))
      throw new HttpError(412, 'If-Match does not match');
  } else {
    const since = httpDate(headers['if-unmodified-since'] as string | undefined);
    if (since !== undefined && exists && validators.lastModified && validators.lastModified.getTime() > since)
      throw new HttpError(412, 'modified since If-Unmodified-Since');
  }
  const ifNoneMatch = headers['if-none-match'];
  if (typeof ifNoneMatch === 'string') {
    if (exists && matches(ifNoneMatch, validators.etag, true)) {
      if (safe) return 304;
      throw new HttpError(412, 'If-None-Match matches');
    }
  } else if (safe) {
    const since = httpDate(headers['if-modified-since'] as string | undefined);
    if (
      since !== undefined &&
      exists &&
      validators.lastModified &&
      validators.lastModified.getTime() <= since
    )
      return 304;
  }
  return undefined;
}

/** One satisfiable byte range, inclusive. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/**
 * Reads a `Range` header against a file size (RFC 7233): undefined when there is none, it is not a
 * `bytes` range or it is malformed (the whole file is sent), the satisfiable ranges otherwise; throws
 * 416 when none is satisfiable. Several ranges that overlap or touch are merged.
 */
export function parseRange(header: string | undefined, size: number): ByteRange[] | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*bytes\s*=\s*(.+)$/i.exec(header);
  if (!match?.[1]) return undefined;
  const ranges: ByteRange[] = [];
  let any = false;
  for (const part of match[1].split(',')) {
    const spec = part.trim();
    if (spec === '') continue;
    const range = /^(\d*)\s*-\s*(\d*)$/.exec(spec);
    if (!range || (range[1] === '' && range[2] === '')) return undefined;
    any = true;
    if (range[1] === '') {
      const suffix = Number(range[2]);
      if (suffix === 0 || size === 0) continue;
      ranges.push({ start: Math.max(0, size - suffix), end: size - 1 });
    } else {
      const start = Number(range[1]);
      const end = range[2] === '' ? size - 1 : Math.min(Number(range[2]), size - 1);
      if (range[2] !== '' && Number(range[2]) < start) return undefined;
      if (start >= size) continue;
      ranges.push({ start, end });
    }
    if (ranges.length > 100) return undefined;
  }
  if (!any) return undefined;
  if (ranges.length === 0)
    throw new HttpError(416, 'range not satisfiable', { 'Content-Range': `bytes */${size}` });
  ranges.sort((a, b) => a.start - b.start);
  const merged: ByteRange[] = [];
  for (const range of ranges) {
    const last = merged.at(-1);
    if (last && range.start <= last.end + 1)
      merged[merged.length - 1] = { start: last.start, end: Math.max(last.end, range.end) };
    else merged.push(range);
  }
  return merged;
}

/** Whether an `If-Range` validator still holds (strong ETag match or exact Last-Modified date). */
export function ifRangeHolds(header: string | undefined, validators: Validators): boolean {
  if (header === undefined) return true;
  const value = header.trim();
  if (value.startsWith('"') || value.startsWith('W/'))
    return !value.startsWith('W/') && value === validators.etag;
  const date = httpDate(value);
  return (
    date !== undefined && validators.lastModified !== undefined && validators.lastModified.getTime() === date
  );
}
