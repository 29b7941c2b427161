/** Stops a submission's processes while the runner computes metrics, and lets them go on afterwards. */
export interface Freezer {
  freeze(): Promise<void>;
  thaw(): Promise<void>;
}

/** The part of a dockerode client the freezer uses. */
export interface PausableDocker {
  getContainer(id: string): { pause(): Promise<unknown>; unpause(): Promise<unknown> };
}

/** A container, frozen with the cgroup freezer (`docker pause`). */
export function containerFreezer(docker: PausableDocker, containerId: string): Freezer {
  const container = docker.getContainer(containerId);
  return {
    freeze: async () => void (await container.pause()),
    thaw: async () => void (await container.unpause()),
  };
}

/** A local process group (the local runner makes each process lead its own), with SIGSTOP and SIGCONT. */
export function processGroupFreezer(pid: number): Freezer {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-pid, s);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  };
  return {
    freeze: () => Promise.resolve(signal('SIGSTOP')),
    thaw: () => Promise.resolve(signal('SIGCONT')),
  };
}
