import type { ResolvedJob } from './resolve-spec.js';

const MIB = 1024 * 1024;

/** A bind mount in the Engine API's `Mounts` form. */
interface EngineMount {
  Type: 'bind';
  Source: string;
  Target: string;
  ReadOnly: boolean;
}

/** A GPU request in the Engine API's `DeviceRequests` form. */
interface EngineDeviceRequest {
  Driver: 'nvidia';
  DeviceIDs?: string[];
  Count?: number;
  Capabilities: string[][];
}

/** The subset of the Engine API `ContainerCreate` body the plugin sends; every key is spelled as the API spells it. */
export interface ContainerCreateBody {
  Image: string;
  Cmd?: string[];
  Entrypoint?: string[];
  Env: string[];
  WorkingDir?: string;
  User?: string;
  Labels: Record<string, string>;
  Tty: false;
  OpenStdin: false;
  StdinOnce: false;
  AttachStdin: false;
  AttachStdout: true;
  AttachStderr: true;
  HostConfig: {
    Init: boolean;
    AutoRemove: boolean;
    NetworkMode?: string;
    ReadonlyRootfs: boolean;
    Tmpfs?: Record<string, string>;
    Mounts: EngineMount[];
    Memory?: number;
    MemorySwap?: number;
    NanoCpus?: number;
    PidsLimit: number;
    ShmSize?: number;
    CapDrop?: string[];
    SecurityOpt?: string[];
    GroupAdd?: string[];
    DeviceRequests?: EngineDeviceRequest[];
  };
}

/**
 * The create body for a resolved job. Always `Tty:false` and no stdin (streams stay demultiplexable,
 * pitfall 1), `Mounts` not `Binds` (a missing source is an error, pitfall 10), `MemorySwap = Memory`
 * (no hidden swap), explicit GPU `DeviceIDs` (pitfall 11).
 */
export function createBody(job: ResolvedJob): ContainerCreateBody {
  const host: ContainerCreateBody['HostConfig'] = {
    Init: job.init,
    AutoRemove: job.autoRemove,
    ReadonlyRootfs: job.readOnlyRoot,
    Mounts: job.mounts.map((m) => ({
      Type: 'bind',
      Source: m.source,
      Target: m.target,
      ReadOnly: m.readOnly,
    })),
    PidsLimit: job.pids,
  };
  if (job.network !== undefined) host.NetworkMode = job.network;
  if (Object.keys(job.tmpfs).length > 0) host.Tmpfs = job.tmpfs;
  if (job.memoryMb !== undefined) {
    host.Memory = job.memoryMb * MIB;
    host.MemorySwap = host.Memory;
  }
  if (job.cpus !== undefined) host.NanoCpus = Math.round(job.cpus * 1e9);
  if (job.shmMb !== undefined) host.ShmSize = job.shmMb * MIB;
  if (job.capDrop.length > 0) host.CapDrop = job.capDrop;
  if (job.noNewPrivileges) host.SecurityOpt = ['no-new-privileges'];
  if (job.groupAdd !== undefined) host.GroupAdd = job.groupAdd;
  if (job.gpus !== undefined) {
    host.DeviceRequests = [
      job.gpus === 'all'
        ? { Driver: 'nvidia', Count: -1, Capabilities: [['gpu']] }
        : { Driver: 'nvidia', DeviceIDs: [...job.gpus], Capabilities: [['gpu']] },
    ];
  }
  const body: ContainerCreateBody = {
    Image: job.image,
    Env: Object.entries(job.env).map(([k, v]) => `${k}=${v}`),
    Labels: job.labels,
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    HostConfig: host,
  };
  if (job.cmd !== undefined) body.Cmd = job.cmd;
  if (job.entrypoint !== undefined) body.Entrypoint = job.entrypoint;
  if (job.workdir !== undefined) body.WorkingDir = job.workdir;
  if (job.user !== undefined) body.User = job.user;
  return body;
}
