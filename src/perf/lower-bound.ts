import type { PerfModel } from './perf-model';
import { quotaLevels } from './timing';

/**
 * Perfect-scaling lower bound on iteration time: every module's forward and backward work at the quota
 * where it is most efficient (least quota·time per microbatch), spread over all GPUs with no idle SM,
 * no communication and no interference. No plan the performance model scores can beat it.
 */
export function lowerBoundMs(perf: PerfModel): number {
  const levels = quotaLevels(perf.cluster);
  const microbatches = perf.microbatches;
  const gpus = perf.gpuCount;
  let gpuMs = 0;
  for (const t of perf.timings.values()) {
    gpuMs += microbatches * Math.min(...levels.map((q) => q * (t.forwardMs(q) + t.backwardMs(q))));
  }
  return gpuMs / gpus;
}
