import { currentProcessIdentity, type RunOwner } from '@beamline/core';
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';

/** The default label namespace (a reverse-DNS prefix) of every container the plugin creates. */
export const DEFAULT_LABEL_NAMESPACE = 'io.beamline';

/** Who owns the containers: the janitor selects by all three and never touches anything else. */
export interface Ownership {
  /** Label namespace, default `io.beamline`. */
  namespace: string;
  /** Project id, e.g. `petric`. */
  project: string;
  /** Invoking user (uid by default). */
  owner: string;
}

/**
 * The identity of the process that creates containers (core's process identity: pid, host, and on Linux
 * the boot id and start time, so a reused pid is not mistaken for the owner) plus a session id, so a
 * janitor can tell whether the owner is still alive.
 */
export interface ProcessIdentity extends RunOwner {
  session: string;
}

/** Label keys under a namespace. */
export function labelKeys(namespace: string) {
  return {
    managed: `${namespace}.managed`,
    project: `${namespace}.project`,
    owner: `${namespace}.owner`,
    jobId: `${namespace}.job-id`,
    run: `${namespace}.run`,
    step: `${namespace}.step`,
    session: `${namespace}.session`,
    host: `${namespace}.host`,
    pid: `${namespace}.pid`,
    pidStart: `${namespace}.pid-start`,
    bootId: `${namespace}.boot-id`,
    gpus: `${namespace}.gpus`,
  } as const;
}

/** The invoking user as the owner label: the numeric uid where there is one (names can differ between hosts). */
export function currentOwner(): string {
  return typeof process.getuid === 'function' ? String(process.getuid()) : userInfo().username;
}

let self: ProcessIdentity | undefined;

/** This process's identity (one session id per process). */
export function currentProcess(): ProcessIdentity {
  self ??= { session: randomUUID(), ...currentProcessIdentity() };
  return self;
}

/** What one container's labels are made of. */
export interface JobLabelInput {
  ownership: Ownership;
  process: ProcessIdentity;
  jobId: string;
  step: string;
  run?: string;
  gpus?: readonly string[] | 'all';
  /** Caller labels (the core's run/step labels, user labels); they never override the ownership labels. */
  extra?: Readonly<Record<string, string>>;
}

/** The full label set of a container: caller labels first, then the ownership labels, which always win. */
export function jobLabels(input: JobLabelInput): Record<string, string> {
  const k = labelKeys(input.ownership.namespace);
  const labels: Record<string, string> = { ...input.extra };
  labels[k.managed] = 'true';
  labels[k.project] = input.ownership.project;
  labels[k.owner] = input.ownership.owner;
  labels[k.jobId] = input.jobId;
  labels[k.step] = input.step;
  labels[k.run] = input.run ?? '';
  labels[k.session] = input.process.session;
  labels[k.host] = input.process.host;
  labels[k.pid] = String(input.process.pid);
  labels[k.pidStart] = input.process.startTime === undefined ? '' : String(input.process.startTime);
  if (input.process.bootId !== undefined) labels[k.bootId] = input.process.bootId;
  if (input.gpus !== undefined) labels[k.gpus] = input.gpus === 'all' ? 'all' : input.gpus.join(',');
  return labels;
}

/**
 * The label filter that selects exactly this owner's containers of this project: `managed`, `project`
 * and `owner` together. Every list or cleanup goes through it; there is no unfiltered variant.
 */
export function ownerFilter(ownership: Ownership, more: Readonly<Record<string, string>> = {}): string[] {
  const k = labelKeys(ownership.namespace);
  const pairs: Record<string, string> = {
    [k.managed]: 'true',
    [k.project]: ownership.project,
    [k.owner]: ownership.owner,
    ...more,
  };
  return Object.entries(pairs).map(([key, value]) => `${key}=${value}`);
}

/** True when a label map carries this owner's full ownership labels (a second check after the daemon's filter). */
export function isOwnedBy(
  labels: Readonly<Record<string, string>> | undefined,
  ownership: Ownership,
): boolean {
  if (labels === undefined) return false;
  const k = labelKeys(ownership.namespace);
  return (
    labels[k.managed] === 'true' &&
    labels[k.project] === ownership.project &&
    labels[k.owner] === ownership.owner
  );
}

/** The owner process a container's labels record, as core's `recordedProcessGone` checks it. */
export function labelledOwner(labels: Readonly<Record<string, string>>, namespace: string): RunOwner {
  const k = labelKeys(namespace);
  const startTime = labels[k.pidStart];
  const bootId = labels[k.bootId];
  return {
    pid: Number(labels[k.pid]),
    host: labels[k.host] ?? '',
    ...(startTime ? { startTime: Number(startTime) } : {}),
    ...(bootId ? { bootId } : {}),
  };
}
