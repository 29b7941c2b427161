import { join } from 'node:path';
import { isCI } from '@beamline/core/testing';
import { answers } from './answers.js';
import { hasApache, startApache } from './apache.js';
import { startPluginTarget } from './plugin-target.js';
import { checkShareSpec, type ShareSpec } from './share-spec.js';
import { INSTALL_HINT } from './tools.js';

/** The servers a client test can run against. */
export type TargetKind = 'plugin' | 'apache';

/** A running server under test, started from a {@link ShareSpec}. */
export interface Target {
  kind: TargetKind;
  /** `http://127.0.0.1:<port>`; mount paths are appended (`target.url + '/data/'`). */
  url: string;
  /** The server process when it runs in a process of its own (Apache's parent). */
  pid: number | undefined;
  /** Whether the server still answers (an OPTIONS on `/` gets any HTTP status within 5 s). */
  answers(): Promise<boolean>;
  stop(): Promise<void>;
}

/** Why a target cannot run here, or undefined when it can. */
function targetMissing(kind: TargetKind): string | undefined {
  switch (kind) {
    case 'plugin':
      return undefined; // the package's own server (test/support/start-share.ts)
    case 'apache':
      return hasApache() ? undefined : `Apache httpd with mod_dav_fs is not installed. ${INSTALL_HINT}`;
  }
}

/**
 * The targets a client test runs against: `WEBDAV_TARGETS` (comma-separated: `plugin,apache`), by
 * default the plugin alone (the package's suite); `WEBDAV_TARGETS=plugin,apache` runs every client
 * test against Apache mod_dav too, the reference every harness was validated against.
 */
export function clientTargets(): TargetKind[] {
  const raw = process.env.WEBDAV_TARGETS ?? 'plugin';
  const kinds = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const k of kinds) {
    if (k !== 'plugin' && k !== 'apache') {
      throw new Error(`WEBDAV_TARGETS: unknown target ${JSON.stringify(k)} (expected plugin and/or apache)`);
    }
  }
  return kinds as TargetKind[];
}

/**
 * Whether a target can run; under CI a missing target is an error (integration tests never skip
 * there), on a laptop the test skips with the reason printed.
 */
export function targetAvailable(kind: TargetKind): boolean {
  const missing = targetMissing(kind);
  if (!missing) return true;
  if (isCI()) throw new Error(`WebDAV target ${kind} is required under CI: ${missing}`);
  console.warn(`[plugin-webdav] skipping client tests against ${kind}: ${missing}`);
  return false;
}

/**
 * Starts `kind` serving `spec`; `dir` is a scratch folder for the server's own files. Apache asks for
 * Basic credentials unless `auth` is `digest`; the plugin offers both.
 */
export async function startTarget(
  kind: TargetKind,
  spec: ShareSpec,
  dir: string,
  opts: { auth?: 'basic' | 'digest' } = {},
): Promise<Target> {
  checkShareSpec(spec);
  if (kind === 'apache') {
    const a = await startApache(spec, { dir: join(dir, 'apache'), auth: opts.auth ?? 'basic' });
    return {
      kind,
      url: a.url,
      pid: a.pid,
      answers: () => answers(a.url),
      stop: () => a.stop(),
    };
  }
  return startPluginTarget(spec, join(dir, 'plugin'));
}
