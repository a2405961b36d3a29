/**
 * Tail classes (README.md in this folder, "Classes"): a trainable module's own tail, gradient sync plus
 * optimizer step, depends on its replica count R and on whether its replicas span nodes. The relaxation
 * gives each such module one class, a range of R and a span, and charges the least tail over the class:
 * the sync's tail at the range's lowest R (sync grows with R) plus the step at its highest R (ZeRO
 * shrinks it). How much of the sync hides under the replica's work depends on the slot (`classTailMs`).
 */

import { collectiveStretchMs, hiddenSyncMs, leastGradientSync, optimizerStepMs, syncTailMs, type GradientSync } from '../../perf/sync';
import type { BoundTerms } from './terms';

export type TailClass = {
  readonly lo: number;
  readonly hi: number;
  readonly spansNodes: boolean;
  /** Least sync over the class: at R = lo. */
  readonly sync: GradientSync;
};

/**
 * The least own tail of a module in class `c` on a slot at quota `q` whose work counts `microbatchMs`
 * per microbatch: the last backward's stretch while the collective holds SMs, the sync's tail after
 * what that work hides (the module's fastest forward and backward are floors of the last microbatch's),
 * then the step at the class's highest R.
 */
export function classTailMs(terms: BoundTerms, module: string, c: TailClass, q: number, microbatchMs: number): number {
  const mt = terms.modules.get(module)!;
  // The last backward also runs longer while the collective holds SMs: at least by this (collectiveStretchMs).
  const stretch = collectiveStretchMs(c.sync, mt.backwardMin, terms.collectiveSmFraction);
  const hidden = hiddenSyncMs(c.sync.buckets, microbatchMs + stretch, mt.forwardMin, mt.backwardMin + stretch);
  return stretch + syncTailMs(c.sync, hidden) + optimizerStepMs(terms.perf, module, c.hi, q);
}

/** Candidate lower ends of R ranges: every count to 8, then 25% apart. */
function rangeStarts(max: number): number[] {
  const out: number[] = [];
  for (let r = 1; r <= max; r = r < 8 ? r + 1 : Math.max(r + 1, Math.floor(r * 1.25))) out.push(r);
  return out;
}

/**
 * The classes of a module at an iteration time T: ranges of R per span, merged while the least tail
 * over the merged range is within `tolerance`·T of the least over each part, and dropped when even the
 * fastest replicas cannot finish the module's microbatches before T with that tail.
 */
export function tailClasses(terms: BoundTerms, module: string, T: number, tolerance = 0.002): TailClass[] {
  const perf = terms.perf;
  const { cluster } = perf;
  const mt = terms.modules.get(module)!;
  const microbatches = perf.microbatches;
  const fastest = Math.min(...mt.microbatchAt);
  const singleMax = Math.min(terms.maxReplicas, cluster.gpusPerNode * terms.maxSlots);
  const out: TailClass[] = [];
  const spans = cluster.nodes > 1 ? [false, true] : [false];
  for (const spansNodes of spans) {
    const max = spansNodes ? terms.maxReplicas : Math.min(terms.maxReplicas, singleMax);
    const starts = rangeStarts(max).filter((r) => !spansNodes || r >= 2);
    let current: TailClass | undefined;
    // At the fastest microbatch anywhere: start + work + tail grows with the microbatch time, so this is the least.
    const tail = (c: TailClass) => classTailMs(terms, module, c, 1, fastest);
    const feasible = (c: TailClass) => terms.fixedMs + mt.headMs + Math.ceil(microbatches / c.hi) * fastest + Math.max(mt.drainMs, tail(c)) <= T;
    starts.forEach((lo, i) => {
      const hi = i + 1 < starts.length ? starts[i + 1] - 1 : max;
      const part: TailClass = { lo, hi, spansNodes, sync: leastGradientSync(perf, module, lo, spansNodes) };
      if (!feasible(part)) return;
      if (current && current.hi + 1 === lo) {
        const merged: TailClass = { ...current, hi };
        if (tail(current) - tail(merged) <= tolerance * T && tail(part) - tail(merged) <= tolerance * T) {
          current = merged;
          return;
        }
      }
      if (current) out.push(current);
      current = part;
    });
    if (current) out.push(current);
  }
  return out;
}
