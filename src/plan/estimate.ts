import { replicaMemoryBytes, WORKSPACE_BYTES_PER_GPU, WORKSPACE_BYTES_PER_SLOT } from '../perf/memory';
import type { PerfModel } from '../perf/perf-model';
import { syncAfterBackwardMs } from '../perf/sync';
import { moduleTimeInPattern, type Layout } from './layout';

/**
 * Fast linear estimate of a layout's iteration time, for search: the steady state of the slowest
 * module (microbatches over its total rate; a slot shared in time gives each of its modules one
 * microbatch per sum of their times), plus one microbatch's trip through every module (fill and
 * drain) and the slowest gradient sync's tail after its last backward. The simulator scores the finalists exactly.
 */
export function estimateLayoutMs(perf: PerfModel, layout: Layout): number {
  const microbatches = perf.microbatches;
  const rate = new Map<string, number>();
  const fastest = new Map<string, number>();
  const replicas = new Map<string, number>();
  for (const { pattern, count } of layout) {
    if (count <= 0) continue;
    pattern.forEach((slot, i) => {
      const times = slot.modules.map((m) => moduleTimeInPattern(perf, pattern, i, m));
      const cycle = times.reduce((a, b) => a + b, 0);
      slot.modules.forEach((m, j) => {
        rate.set(m, (rate.get(m) ?? 0) + count / cycle);
        fastest.set(m, Math.min(fastest.get(m) ?? Infinity, times[j]));
        replicas.set(m, (replicas.get(m) ?? 0) + count);
      });
    });
  }
  let slowestRate = Infinity;
  let fill = 0;
  let sync = 0;
  for (const m of perf.model.modules) {
    const r = rate.get(m.name);
    if (!r) return Infinity;
    slowestRate = Math.min(slowestRate, r);
    fill += fastest.get(m.name)!;
    if (m.trainable) {
      const n = replicas.get(m.name)!;
      const nodes = Array.from({ length: n }, (_, i) => perf.nodeOf(i));
      sync = Math.max(sync, syncAfterBackwardMs(perf, m.name, nodes, perf.timings.get(m.name)!.backwardMs(1)));
    }
  }
  return microbatches / slowestRate + fill + sync;
}

/**
 * Upper bound on the memory of the busiest GPU of a layout, without decoding it: every replica is
 * charged the most in-flight microbatches it could hold. Exact decoding can only need less.
 */
export function layoutMemoryBound(perf: PerfModel, layout: Layout): number {
  const microbatches = perf.microbatches;
  const replicas = new Map<string, number>();
  for (const { pattern, count } of layout) for (const s of pattern) for (const m of s.modules) replicas.set(m, (replicas.get(m) ?? 0) + count);
  let peak = 0;
  for (const { pattern, count } of layout) {
    if (count <= 0) continue;
    let bytes = WORKSPACE_BYTES_PER_GPU + WORKSPACE_BYTES_PER_SLOT * Math.max(0, pattern.length - 1);
    for (const s of pattern) {
      for (const m of s.modules) {
        bytes += replicaMemoryBytes(perf, m, replicas.get(m)!, microbatches);
      }
    }
    peak = Math.max(peak, bytes);
  }
  return peak;
}
