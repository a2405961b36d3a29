import { replicaMemoryBytes, WORKSPACE_BYTES_PER_GPU } from '../perf/memory';
import { GiB } from '../spec/problem';
import type { PerfModel } from '../perf/perf-model';
import { decodeLayout, type Layout } from './layout';
import { planMemoryBytes } from '../perf/memory';

/** Largest per-GPU memory of a layout, in bytes. */
export function layoutPeakMemory(perf: PerfModel, layout: Layout): number {
  const { gpus, replicas } = decodeLayout(perf, layout);
  return Math.max(0, ...planMemoryBytes(perf, gpus, replicas));
}

/**
 * Why no plan can fit, in words, or undefined when every module fits alone on a GPU with the most
 * replicas the cluster allows (the most ZeRO sharding and the fewest microbatches per replica).
 */
export function explainInfeasible(perf: PerfModel): string | undefined {
  const g = perf.cluster.gpu;
  const replicas = Math.min(perf.gpuCount, perf.microbatches);
  for (const m of perf.model.modules) {
    const bytes = WORKSPACE_BYTES_PER_GPU + replicaMemoryBytes(perf, m.name, replicas, Math.ceil(perf.microbatches / replicas));
    if (bytes > perf.capacityBytes) {
      const zero = perf.model.optimizer.zeroStage;
      const fixes = [
        zero < 3 ? 'use ZeRO stage 3' : undefined,
        perf.model.activationCheckpointing ? undefined : 'turn on activation checkpointing',
        perf.model.batch.micro > 1 ? 'use a smaller micro-batch' : undefined,
        'use more GPUs',
      ].filter(Boolean);
      return `module ${m.name} needs ${(bytes / GiB).toFixed(1)} GiB per GPU even alone on a GPU with ZeRO stage ${zero} over ${replicas} replicas; ${g.name} GPUs have ${g.memoryGiB} GiB: ${fixes.join(', ')} (tensor parallelism is not implemented yet)`;
    }
  }
  return undefined;
}
