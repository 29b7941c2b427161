import { currentProcessIdentity, recordedProcessGone, type RunOwner } from '@beamline/core';
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { AliceError } from '../errors/alice-error.js';

/**
 * One agent per data folder: `<data>/agent.lock` holds the owner (pid, host, boot id, start time),
 * created exclusively. A lock whose owner is gone (`kill -9`, a reboot, a reused pid) is taken over; a
 * live one, or one held on another host, refuses the second agent with `ALICE_STATE_INVALID`.
 */
export class AgentLock {
  private readonly path: string;
  private held = false;

  constructor(dataDir: string) {
    this.path = join(dataDir, 'agent.lock');
  }

  acquire(): void {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(this.path, 'wx');
        writeSync(fd, JSON.stringify(currentProcessIdentity()));
        closeSync(fd);
        this.held = true;
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      let owner: RunOwner | undefined;
      try {
        owner = JSON.parse(readFileSync(this.path, 'utf8')) as RunOwner;
      } catch {
        owner = undefined;
      }
      if (owner !== undefined && typeof owner.pid === 'number' && !recordedProcessGone(owner)) {
        throw new AliceError(
          'ALICE_STATE_INVALID',
          `another agent (pid ${owner.pid} on ${owner.host}) uses the data folder; ${this.path} is its lock`,
          { details: { owner } },
        );
      }
      // The owner is gone (or the file is half-written by a killed agent): take it over.
      rmSync(this.path, { force: true });
    }
    throw new AliceError('ALICE_STATE_INVALID', `cannot take the lock ${this.path}`);
  }

  release(): void {
    if (this.held) rmSync(this.path, { force: true });
    this.held = false;
  }
}
