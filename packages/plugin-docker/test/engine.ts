import type { ProcessEvent } from '@beamline/core';
import Docker from 'dockerode';
import type { Observable } from 'rxjs';

/** The busybox image `scripts/setup-test-env.sh` imports (no default command: every test passes one). */
export const TEST_IMAGE = process.env.BEAMLINE_TEST_IMAGE ?? 'beamline-test/busybox:1.36';
/** Project label of everything the tests create; cleaned up by label. */
export const TEST_PROJECT = 'bl-test';

/** A client for test housekeeping (never used for jobs; a ping timeout is fine here, pitfall 7). */
export const testDocker = new Docker();

/** Whether the engine answers and has the test image. */
export async function dockerAvailable(): Promise<boolean> {
  const quick = new Docker({ timeout: 3000 });
  try {
    await quick.ping();
    await quick.getImage(TEST_IMAGE).inspect();
    return true;
  } catch {
    return false;
  }
}

/** Removes every container (and image) carrying `io.beamline.project=<project>`. */
export async function cleanupByLabel(project = TEST_PROJECT, images = false): Promise<void> {
  const filter = { label: [`io.beamline.project=${project}`] };
  for (const c of await testDocker.listContainers({ all: true, filters: filter })) {
    await testDocker
      .getContainer(c.Id)
      .remove({ force: true })
      .catch(() => undefined);
  }
  if (images) {
    for (const i of await testDocker.listImages({ filters: filter })) {
      await testDocker
        .getImage(i.Id)
        .remove({ force: true })
        .catch(() => undefined);
    }
  }
}

/** Containers carrying a label filter (`key=value`), all states. */
export async function containersWith(label: string): Promise<Docker.ContainerInfo[]> {
  return testDocker.listContainers({ all: true, filters: { label: [label] } });
}

/** Everything one run produced. */
export interface Collected {
  events: ProcessEvent[];
  stdout: Buffer;
  stderr: Buffer;
  exit?: Extract<ProcessEvent, { type: 'exit' }>;
  started?: Extract<ProcessEvent, { type: 'started' }>;
  error?: unknown;
}

/** Subscribes and collects until completion or error. */
export function collect(
  observable: Observable<ProcessEvent>,
  onEvent?: (e: ProcessEvent) => void,
): Promise<Collected> {
  const events: ProcessEvent[] = [];
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  return new Promise((resolve) => {
    const finish = (error?: unknown): void => {
      const exit = events.find((e) => e.type === 'exit');
      const started = events.find((e) => e.type === 'started');
      resolve({
        events,
        stdout: Buffer.concat(out),
        stderr: Buffer.concat(err),
        ...(exit?.type === 'exit' ? { exit } : {}),
        ...(started?.type === 'started' ? { started } : {}),
        ...(error === undefined ? {} : { error }),
      });
    };
    observable.subscribe({
      next: (e) => {
        events.push(e);
        if (e.type === 'stdout') out.push(e.data);
        if (e.type === 'stderr') err.push(e.data);
        onEvent?.(e);
      },
      error: finish,
      complete: () => finish(),
    });
  });
}
