import { recordedProcessGone, type RunOwner } from '@beamline/core';
import { hostname } from 'node:os';
import type Docker from 'dockerode';
import { Engine, type ListedContainer } from '../client/engine.js';
import { classifyApiError } from '../errors/classify-error.js';
import { isOwnedBy, labelKeys, labelledOwner, ownerFilter, type Ownership } from '../naming/labels.js';

/** What the janitor did with one container. */
export interface JanitorEntry {
  id: string;
  name: string;
  state: string;
  /** `removed`, `kept` (owner alive), `reported` (running, owned by another host), or `failed`. */
  action: 'removed' | 'kept' | 'reported' | 'failed';
  why: string;
}

/** The janitor's report. Failures are listed, never thrown: clean-up must not abort a job. */
export interface JanitorReport {
  removed: JanitorEntry[];
  kept: JanitorEntry[];
  reported: JanitorEntry[];
  failed: JanitorEntry[];
}

/** Options of `runJanitor`. */
export interface JanitorOptions {
  ownership: Ownership;
  /** This host's name (default `os.hostname()`). */
  host?: string;
  /** Whether the recorded owner process on this host is certainly gone; default: core's `recordedProcessGone`. */
  isGone?: (owner: RunOwner) => boolean;
}

/**
 * Removes this owner's leftover containers, and only those: the daemon-side filter selects
 * `managed=true` + project + owner, and each result is checked again before anything is done.
 * Rules: containers whose owner process (same host) is alive are left alone (a job in progress);
 * exited, created and dead ones are removed; running ones are stopped and removed when their owner
 * process on this host is gone; running ones of another host are only reported. There is no prune.
 */
export async function runJanitor(docker: Docker, options: JanitorOptions): Promise<JanitorReport> {
  const engine = new Engine(docker);
  const keys = labelKeys(options.ownership.namespace);
  const host = options.host ?? hostname();
  const isGone = options.isGone ?? ((owner: RunOwner) => recordedProcessGone(owner, host));
  const report: JanitorReport = { removed: [], kept: [], reported: [], failed: [] };
  let listed: ListedContainer[];
  try {
    listed = await engine.listContainers(ownerFilter(options.ownership));
  } catch (error) {
    throw classifyApiError(error, 'other', { what: 'janitor list' });
  }
  for (const c of listed) {
    const labels = c.Labels ?? {};
    const entry = (action: JanitorEntry['action'], why: string): JanitorEntry => ({
      id: c.Id,
      name: (c.Names[0] ?? '').replace(/^\//, ''),
      state: c.State,
      action,
      why,
    });
    if (!isOwnedBy(labels, options.ownership)) continue;
    const sameHost = labels[keys.host] === host;
    const owner = labelledOwner(labels, options.ownership.namespace);
    const ownerAlive = sameHost && Number.isInteger(owner.pid) && owner.pid > 0 && !isGone(owner);
    if (ownerAlive) {
      report.kept.push(entry('kept', `owner process ${labels[keys.pid]} is alive`));
      continue;
    }
    const running = c.State === 'running' || c.State === 'paused' || c.State === 'restarting';
    if (running && !sameHost) {
      report.reported.push(entry('reported', `running, owned by host ${labels[keys.host] ?? '?'}`));
      continue;
    }
    try {
      // Force removal kills a running container (SIGKILL): its owner is gone, nobody waits for a graceful end.
      await engine.removeContainer(c.Id);
      report.removed.push(
        entry('removed', running ? 'running with a dead owner process' : `leftover (${c.State})`),
      );
    } catch (error) {
      report.failed.push(entry('failed', classifyApiError(error, 'other').message));
    }
  }
  return report;
}
