import type { PerfModel } from '../perf/perf-model';
import { replicaMemoryBytes, WORKSPACE_BYTES_PER_GPU } from '../perf/memory';
import { syncAfterBackwardMs } from '../perf/sync';
import type { Layout } from './layout';
import { layoutPeakMemory } from './fits';

export type BaselineName = 'sequential' | 'exclusive';

export type BaselineLayout =
  | { readonly name: BaselineName; readonly fits: true; readonly layout: Layout }
  | { readonly name: BaselineName; readonly fits: false; readonly reason: string };

/** Temporal-sequential (Megatron-style): every GPU runs every module in turn, at 100% of the GPU. */
export function sequentialBaseline(perf: PerfModel): BaselineLayout {
  const layout: Layout = [{ pattern: [{ modules: perf.order, quotaFraction: 1 }], count: perf.gpuCount }];
  const peak = layoutPeakMemory(perf, layout);
  if (peak > perf.capacityBytes) {
    return { name: 'sequential', fits: false, reason: `needs ${(peak / 2 ** 30).toFixed(1)} GiB per GPU with every module on every GPU` };
  }
  return { name: 'sequential', fits: true, layout };
}

/**
 * Stage time of a module on n whole GPUs, used to split GPUs for the exclusive baseline: its replicas'
 * microbatches, then its gradient all-reduce. Infinity when n replicas do not fit in memory.
 */
export function exclusiveStageMs(perf: PerfModel, module: string, n: number): number {
  const microbatches = perf.microbatches;
  if (n > microbatches) return Infinity;
  const perReplica = Math.ceil(microbatches / n);
  const memory = WORKSPACE_BYTES_PER_GPU + replicaMemoryBytes(perf, module, n, perReplica);
  if (memory > perf.capacityBytes) return Infinity;
  const t = perf.timings.get(module)!;
  const spec = perf.moduleByName.get(module)!;
  const nodes = Array.from({ length: n }, (_, i) => perf.nodeOf(i));
  const sync = spec.trainable ? syncAfterBackwardMs(perf, module, nodes, t.backwardMs(1)) : 0;
  return perReplica * (t.forwardMs(1) + t.backwardMs(1)) + sync;
}

/**
 * The best split of whole GPUs across modules (DistMM-style exclusive placement), exact for the
 * bottleneck objective min over splits of max over modules of stage time. With g_m(n) = the best stage
 * time using at most n GPUs (non-increasing), repeatedly giving the bottleneck module the fewest extra
 * GPUs that lower its g reaches the optimum: any split better than the current one must give the
 * bottleneck at least that many, and no other module needs more than it has for that threshold.
 */
export function exclusiveSplit(perf: PerfModel, stageMs: (module: string, n: number) => number = (m, n) => exclusiveStageMs(perf, m, n)): Map<string, number> | string {
  const gpus = perf.gpuCount;
  const modules = perf.order;
  if (modules.length > gpus) return `${modules.length} modules do not fit one per GPU on ${gpus} GPUs`;
  // best[m][n] = (min stage time with at most n GPUs, the count achieving it)
  const best = new Map<string, { ms: number; count: number }[]>();
  for (const m of modules) {
    const row: { ms: number; count: number }[] = [{ ms: Infinity, count: 0 }];
    for (let n = 1; n <= gpus - modules.length + 1; n++) {
      const ms = stageMs(m, n);
      row.push(ms < row[n - 1].ms ? { ms, count: n } : row[n - 1]);
    }
    best.set(m, row);
  }
  const n = new Map(modules.map((m) => [m, 1]));
  let used = modules.length;
  for (;;) {
    let bottleneck = modules[0];
    for (const m of modules) if (best.get(m)![n.get(m)!].ms > best.get(bottleneck)![n.get(bottleneck)!].ms) bottleneck = m;
    const row = best.get(bottleneck)!;
    const current = row[n.get(bottleneck)!].ms;
    let next = n.get(bottleneck)! + 1;
    while (next < row.length && row[next].ms >= current) next++;
    if (next >= row.length || used + (next - n.get(bottleneck)!) > gpus) break;
    used += next - n.get(bottleneck)!;
    n.set(bottleneck, next);
  }
  const split = new Map<string, number>();
  for (const m of modules) {
    const entry = best.get(m)![n.get(m)!];
    if (!Number.isFinite(entry.ms)) return `module ${m} does not fit in memory on the GPUs the exclusive split can give it`;
    split.set(m, entry.count);
  }
  return split;
}

/** Temporal-exclusive: each module alone on its own GPUs, split as above. */
export function exclusiveBaseline(perf: PerfModel): BaselineLayout {
  const split = exclusiveSplit(perf);
  if (typeof split === 'string') return { name: 'exclusive', fits: false, reason: split };
  const layout: Layout = [...split].map(([m, count]) => ({ pattern: [{ modules: [m], quotaFraction: 1 }], count }));
  return { name: 'exclusive', fits: true, layout };
}

export function baselineLayouts(perf: PerfModel): BaselineLayout[] {
  return [sequentialBaseline(perf), exclusiveBaseline(perf)];
}
