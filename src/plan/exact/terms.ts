/**
 * The per-module constants of the lower bound (README.md in this folder, "Lower bound"): the fastest
 * a microbatch can run anywhere, the earliest a module can start, and the least that must still happen
 * after a module's last task. Each is a minimum over every plan in the space, so a bound built from
 * them holds for every plan.
 */

import { pressureOf, type PerfModel } from '../../perf/perf-model';
import { hiddenSyncMs, leastGradientSync, moduleBuckets, optimizerStepMs, syncTailMs } from '../../perf/sync';
import { quotaLevels } from '../../perf/timing';
import { physicsFor } from '../../perf/physics';

export type ModuleTerms = {
  readonly module: string;
  readonly hasBackward: boolean;
  readonly trainable: boolean;
  /** Forward and backward time of one microbatch at each quota level, no interference, engine task cost included. */
  readonly forwardAt: readonly number[];
  readonly backwardAt: readonly number[];
  /** Fastest forward and backward over all levels. */
  readonly forwardMin: number;
  readonly backwardMin: number;
  /** Forward plus backward of one microbatch at each level: what a replica's microbatch costs its slot alone on its GPU. */
  readonly microbatchAt: readonly number[];
  /** The device part of `microbatchAt` (what interference stretches); the rest is the engine's task cost. */
  readonly deviceAt: readonly number[];
  /** How hard the module presses on its neighbours at each level (the interference model's pressure). */
  readonly pressureAt: readonly number[];
  /** Earliest start of any forward of the module: the longest input path of fastest forwards. */
  readonly headMs: number;
  /**
   * After the end of the module's last backward, the least time until the iteration ends that does not
   * depend on this module's own replica count: the backward of its inputs and their own sync and steps.
   */
  readonly drainMs: number;
  /** After the end of a forward, the least time until the iteration ends (downstream forwards, then backwards). */
  readonly afterForwardMs: number;
  /** Buckets its gradients are all-reduced in (src/perf/sync.ts). */
  readonly buckets: number;
  /**
   * The module's own tail at its best replica count, after work that hides `hiddenMs` of the sync
   * (hiddenSyncMs): min over R and span of the sync's tail + fastest step. 0 for a frozen module.
   */
  readonly ownTailMinMs: (hiddenMs: number) => number;
  /** `ownTailMinMs` after a backward at `backwardMin`: what the drain chains charge. */
  readonly ownTailAfterBackwardMs: number;
};

export type BoundTerms = {
  readonly perf: PerfModel;
  readonly levels: readonly number[];
  readonly modules: ReadonlyMap<string, ModuleTerms>;
  /** The engine's fixed cost per iteration (CPU profiles), added to every row. */
  readonly fixedMs: number;
  /** Most replicas a module can have: one per microbatch, at most `maxSlots` per GPU. */
  readonly maxReplicas: number;
  readonly maxSlots: number;
  readonly gpus: number;
  /** Slowdown per unit of neighbour pressure (the performance model's γ). */
  readonly gamma: number;
  /** Share of the SMs a gradient collective holds while it overlaps the backward (physics). */
  readonly collectiveSmFraction: number;
};

/**
 * min over R in [1, maxReplicas] and both spans of tail(sync(R)) + step(R) at full quota. The sync grows
 * with R (so does its tail: the bucket count does not depend on R) and the step shrinks (ZeRO shards
 * it), so over an interval [r, r'] the sum is at least tail(sync(r)) + step(r'): exact for every R up to
 * 64, intervals 5% wide above. The candidates are listed once; the tail is taken per `hiddenMs`.
 */
function ownTailLowerBound(perf: PerfModel, module: string, maxReplicas: number, multiNode: boolean): (hiddenMs: number) => number {
  const candidates: { sync: { ms: number; buckets: number }; stepMs: number }[] = [];
  for (let r = 1; r <= maxReplicas; ) {
    const next = Math.min(maxReplicas, r < 64 ? r : Math.max(r, Math.floor(r * 1.05)));
    for (const span of multiNode && r > 1 ? [false, true] : [false]) {
      candidates.push({ sync: leastGradientSync(perf, module, r, span), stepMs: optimizerStepMs(perf, module, next, 1) });
    }
    r = next + 1;
  }
  return (hiddenMs) => {
    let best = Infinity;
    for (const c of candidates) best = Math.min(best, syncTailMs(c.sync, hiddenMs) + c.stepMs);
    return best;
  };
}

const cache = new WeakMap<PerfModel, Map<number, BoundTerms>>();

/** The terms of a performance model, computed once per model and slot limit. */
export function boundTerms(perf: PerfModel, maxSlots: number): BoundTerms {
  let bySlots = cache.get(perf);
  if (!bySlots) cache.set(perf, (bySlots = new Map()));
  let terms = bySlots.get(maxSlots);
  if (!terms) bySlots.set(maxSlots, (terms = computeTerms(perf, maxSlots)));
  return terms;
}

function computeTerms(perf: PerfModel, maxSlots: number): BoundTerms {
  const { model, cluster } = perf;
  const levels = quotaLevels(cluster);
  const taskMs = perf.engineCosts?.perTaskMs ?? 0;
  const gpus = perf.gpuCount;
  const microbatches = perf.microbatches;
  const maxReplicas = Math.max(1, Math.min(microbatches, gpus * maxSlots));
  const spec = perf.moduleByName;
  const consumers = new Map<string, string[]>(model.modules.map((m) => [m.name, []]));
  for (const m of model.modules) for (const i of m.inputs) consumers.get(i)!.push(m.name);

  const base = new Map<string, { hasBackward: boolean; trainable: boolean; forwardAt: number[]; backwardAt: number[]; forwardMin: number; backwardMin: number; buckets: number; ownTailMinMs: (hiddenMs: number) => number; ownTailAfterBackwardMs: number }>();
  for (const name of perf.order) {
    const t = perf.timings.get(name)!;
    const hasBackward = t.backward !== 'none';
    const forwardAt = levels.map((q) => t.forwardMs(q) + taskMs);
    const backwardAt = levels.map((q) => (hasBackward ? t.backwardMs(q) + taskMs : 0));
    const trainable = spec.get(name)!.trainable;
    const buckets = moduleBuckets(perf, name);
    const ownTailMinMs = trainable ? ownTailLowerBound(perf, name, maxReplicas, cluster.nodes > 1) : () => 0;
    const backwardMin = Math.min(...backwardAt);
    const ownTailAfterBackwardMs = ownTailMinMs(hiddenSyncMs(buckets, backwardMin, 0, backwardMin));
    base.set(name, { hasBackward, trainable, forwardAt, backwardAt, forwardMin: Math.min(...forwardAt), backwardMin, buckets, ownTailMinMs, ownTailAfterBackwardMs });
  }

  // Heads in topological order; tails in reverse.
  const head = new Map<string, number>();
  for (const name of perf.order) {
    let h = 0;
    for (const u of spec.get(name)!.inputs) h = Math.max(h, head.get(u)! + base.get(u)!.forwardMin);
    head.set(name, h);
  }
  // drain(m): after m's last backward, the inputs' backwards (only inputs that have one) and their tails.
  const tailAfterBackward = new Map<string, number>();
  const drain = new Map<string, number>();
  for (const name of perf.order) {
    let d = 0;
    for (const u of spec.get(name)!.inputs) {
      const bu = base.get(u)!;
      if (bu.hasBackward) d = Math.max(d, bu.backwardMin + tailAfterBackward.get(u)!);
    }
    drain.set(name, d);
    tailAfterBackward.set(name, Math.max(d, base.get(name)!.ownTailAfterBackwardMs));
  }
  // roundTrip(v): from the end of fwd_v(k) to the start of bwd_v(k): consumers with a backward go forward and back first.
  const roundTrip = new Map<string, number>();
  const afterForward = new Map<string, number>();
  for (const name of [...perf.order].reverse()) {
    let rt = 0;
    let after = 0;
    for (const v of consumers.get(name)!) {
      const bv = base.get(v)!;
      if (bv.hasBackward && base.get(name)!.hasBackward) rt = Math.max(rt, bv.forwardMin + roundTrip.get(v)! + bv.backwardMin);
      const afterV = Math.max(afterForward.get(v)!, bv.hasBackward ? roundTrip.get(v)! + bv.backwardMin + tailAfterBackward.get(v)! : 0);
      after = Math.max(after, bv.forwardMin + afterV);
    }
    roundTrip.set(name, rt);
    afterForward.set(name, after);
  }

  const modules = new Map<string, ModuleTerms>();
  for (const name of perf.order) {
    const b = base.get(name)!;
    const timing = perf.timings.get(name)!;
    const deviceAt = levels.map((q) => timing.forwardMs(q) + (b.hasBackward ? timing.backwardMs(q) : 0));
    const pressureAt = levels.map((q) => pressureOf(timing, q));
    modules.set(name, { module: name, ...b, microbatchAt: b.forwardAt.map((f, i) => f + b.backwardAt[i]), deviceAt, pressureAt, headMs: head.get(name)!, drainMs: drain.get(name)!, afterForwardMs: afterForward.get(name)! });
  }
  return { perf, levels, modules, fixedMs: perf.engineCosts?.perGraphMs ?? 0, maxReplicas, maxSlots, gpus, gamma: perf.interferenceAlpha, collectiveSmFraction: physicsFor(cluster).collectiveSmFraction };
}
