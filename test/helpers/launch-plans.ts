import { spawnSync } from 'child_process';
import { buildPerfModel } from '../../src/perf/perf-model';
import { scorePlacement, toPlan } from '../../src/plan/make-plan';
import { BUILTIN_MODEL } from '../../src/engine/builtin-model';
import type { Plan } from '../../src/spec/plan';
import type { ClusterSpec } from '../../src/spec/types';

/** Two CPU "GPUs" of 4 cores on one node: the built-in model colocated on 3 slots (ranks). */
export const CPU_PAIR: ClusterSpec = {
  name: 'cpu-pair',
  description: 'two 4-core CPU devices on one node (tests)',
  device: 'cpu',
  nodes: 1,
  gpusPerNode: 2,
  gpu: { name: 'cpu-4-core', smCount: 4, smGranularity: { min: 1, step: 1 }, peakTflops: 0.2, hbmGBps: 20, memoryGiB: 8, gemmTile: 64 },
  links: { intraNodeGBps: 10, interNodeGBps: 10, latencyUs: 1 },
};

/**
 * The built-in model (global 32, micro 4) on CPU_PAIR, colocated with uneven shares: GPU 0 has a slot
 * of 2 cores for image+audio and one of 2 cores for the head; GPU 1 runs all three modules in one slot.
 * image 20/12, audio 12/20, head 24/8 samples: activations cross ranks both ways.
 */
export function unevenBuiltinPlan(cluster: ClusterSpec = CPU_PAIR, split: readonly [number, number] = [2, 2], gradientBucketMiB?: number): Plan {
  const model = gradientBucketMiB === undefined ? BUILTIN_MODEL : { ...BUILTIN_MODEL, optimizer: { ...BUILTIN_MODEL.optimizer, gradientBucketMiB } };
  const perf = buildPerfModel(model, cluster);
  const n = cluster.gpu.smCount;
  const gpus = [
    { id: 0, node: 0, slots: [{ id: 'g0.s0', quotaFraction: split[0] / n, smCount: split[0], modules: ['image', 'audio'] }, { id: 'g0.s1', quotaFraction: split[1] / n, smCount: split[1], modules: ['head'] }] },
    { id: 1, node: Math.floor(1 / cluster.gpusPerNode), slots: [{ id: 'g1.s0', quotaFraction: 1, smCount: n, modules: ['image', 'audio', 'head'] }] },
  ];
  const replicas = [
    { module: 'image', index: 0, slot: 'g0.s0', samples: 20 },
    { module: 'image', index: 1, slot: 'g1.s0', samples: 12 },
    { module: 'audio', index: 0, slot: 'g0.s0', samples: 12 },
    { module: 'audio', index: 1, slot: 'g1.s0', samples: 20 },
    { module: 'head', index: 0, slot: 'g0.s1', samples: 24 },
    { module: 'head', index: 1, slot: 'g1.s0', samples: 8 },
  ];
  return toPlan(perf, scorePlacement(perf, gpus, replicas), 'hand');
}

/** A GPU of 40 SMs (partitions of 8): the same layout with slots of 24 and 16 SMs, as a GPU plan. */
export const GPU_PAIR: ClusterSpec = {
  ...CPU_PAIR,
  name: 'gpu-pair',
  description: 'two small GPUs on one node (tests)',
  device: 'gpu',
  gpu: { name: 'tiny-gpu', smCount: 40, smGranularity: { min: 8, step: 8 }, peakTflops: 100, hbmGBps: 1000, memoryGiB: 80, gemmTile: 128 },
};

/** CPU_PAIR split over two nodes of one device each. */
export const CPU_TWO_NODES: ClusterSpec = { ...CPU_PAIR, name: 'cpu-two-nodes', nodes: 2, gpusPerNode: 1 };

/** A Python 3 that imports torch: `python3` first, then Debian's (python3-torch installs there). */
export function torchPython(): string | undefined {
  for (const py of ['python3', '/usr/bin/python3']) {
    if (spawnSync(py, ['-c', 'import torch, torch.distributed as d; assert d.is_available()'], { encoding: 'utf8' }).status === 0) return py;
  }
  return undefined;
}

