import type { NodeInfo, PartitionInfo } from '../client/records.js';
import { SlurmError } from '../errors/slurm-error.js';
import type { JobResources } from './job-request.js';

/** What Slurm says about the partitions and their nodes, read once in a while. */
export interface ClusterLayout {
  partitions: readonly PartitionInfo[];
  nodes: readonly NodeInfo[];
}

/** The largest CPU, memory and GPU counts among a partition's nodes. */
function largestNode(
  nodes: readonly NodeInfo[],
  partition: string,
): { cpus: number; memoryMb: number; gpus: number } | undefined {
  const members = nodes.filter((n) => n.partitions.includes(partition));
  if (members.length === 0) return undefined;
  return {
    cpus: Math.max(...members.map((n) => n.cpus)),
    memoryMb: Math.max(...members.map((n) => n.realMemoryMb)),
    gpus: Math.max(...members.map((n) => n.gpus)),
  };
}

/**
 * Checks a job against its partition before it is submitted: Slurm queues a job that exceeds a
 * partition's limits (unless EnforcePartLimits is set) and it then waits forever. Returns the time limit to
 * ask for: Beamline's margin is dropped where the partition's MaxTime would not allow it but the step's
 * own limit fits. Throws `SLURM_PARTITION_UNKNOWN` or `SLURM_RESOURCES_UNAVAILABLE` naming the limit.
 */
export function checkPartitionLimits(
  layout: ClusterLayout,
  partitionName: string | undefined,
  job: JobResources,
): { timeLimitMinutes?: number; partition?: PartitionInfo } {
  const partition =
    partitionName === undefined
      ? layout.partitions.find((p) => p.isDefault)
      : layout.partitions.find((p) => p.name === partitionName);
  if (partition === undefined) {
    if (partitionName === undefined)
      return job.timeLimitMinutes === undefined ? {} : { timeLimitMinutes: job.timeLimitMinutes };
    throw new SlurmError(
      'SLURM_PARTITION_UNKNOWN',
      `partition ${JSON.stringify(partitionName)} does not exist on this cluster; it has ${layout.partitions.map((p) => p.name).join(', ') || 'no partitions'}`,
      { details: { partition: partitionName, partitions: layout.partitions.map((p) => p.name) } },
    );
  }
  const problems: string[] = [];
  const node = largestNode(layout.nodes, partition.name);
  const cpus = job.cpusPerTask ?? 1;
  if (partition.maxCpusPerNode !== undefined && cpus > partition.maxCpusPerNode) {
    problems.push(`${cpus} CPUs, but it allows ${partition.maxCpusPerNode} per node (MaxCPUsPerNode)`);
  } else if (node !== undefined && node.cpus > 0 && cpus > node.cpus) {
    problems.push(`${cpus} CPUs, but its largest node has ${node.cpus}`);
  }
  if (job.memoryMb !== undefined) {
    if (partition.maxMemoryPerNodeMb !== undefined && job.memoryMb > partition.maxMemoryPerNodeMb) {
      problems.push(
        `${job.memoryMb} MiB of memory, but it allows ${partition.maxMemoryPerNodeMb} MiB per node (MaxMemPerNode)`,
      );
    } else if (
      partition.maxMemoryPerCpuMb !== undefined &&
      job.memoryMb > partition.maxMemoryPerCpuMb * cpus
    ) {
      problems.push(
        `${job.memoryMb} MiB of memory for ${cpus} CPU(s), but it allows ${partition.maxMemoryPerCpuMb} MiB per CPU (MaxMemPerCPU)`,
      );
    } else if (node !== undefined && node.memoryMb > 0 && job.memoryMb > node.memoryMb) {
      problems.push(`${job.memoryMb} MiB of memory, but its largest node has ${node.memoryMb} MiB`);
    }
  }
  if (job.gpus !== undefined && node !== undefined && job.gpus > node.gpus) {
    problems.push(
      `${job.gpus} GPU(s), but ${node.gpus === 0 ? 'its nodes have none' : `its nodes have at most ${node.gpus}`}`,
    );
  }
  let timeLimitMinutes = job.timeLimitMinutes;
  if (
    timeLimitMinutes !== undefined &&
    partition.maxTimeMinutes !== undefined &&
    timeLimitMinutes > partition.maxTimeMinutes
  ) {
    if ((job.stepLimitMinutes ?? timeLimitMinutes) > partition.maxTimeMinutes) {
      problems.push(
        `a time limit of ${job.stepLimitMinutes ?? timeLimitMinutes} min, but it allows ${partition.maxTimeMinutes} min (MaxTime)`,
      );
    } else {
      timeLimitMinutes = partition.maxTimeMinutes;
    }
  }
  if (problems.length > 0) {
    throw new SlurmError(
      'SLURM_RESOURCES_UNAVAILABLE',
      `partition ${partition.name} cannot grant this step: it asks for ${problems.join('; and for ')}`,
      { details: { partition: partition.name, request: job, limits: partition } },
    );
  }
  return { partition, ...(timeLimitMinutes === undefined ? {} : { timeLimitMinutes }) };
}
