import * as os from 'os';
import type { ClusterSpec } from './types';

/** Assumed sustained fp32 GFLOP/s of one core, until `mosaic calibrate` measures the real figure. */
export const ASSUMED_GFLOPS_PER_CORE = 50;

/**
 * The local machine as a one-"GPU" cluster for the CPU backend: cores play the role of SMs, a quota is
 * a share of the cores, and one core is the partition granularity.
 */
export function localCpuCluster(cores = os.cpus().length): ClusterSpec {
  return {
    name: 'local-cpu',
    description: `this machine's ${cores} CPU cores as one device (cores play the role of SMs)`,
    device: 'cpu',
    nodes: 1,
    gpusPerNode: 1,
    gpu: {
      name: `cpu-${cores}-core`,
      smCount: cores,
      smGranularity: { min: 1, step: 1 },
      peakTflops: (cores * ASSUMED_GFLOPS_PER_CORE) / 1000,
      hbmGBps: 20,
      memoryGiB: Math.floor(os.totalmem() / 2 ** 30),
      gemmTile: 64,
    },
    links: { intraNodeGBps: 10, interNodeGBps: 10, latencyUs: 1 },
  };
}
