/**
 * GPU patterns of the relaxation (README.md in this folder, "Patterns"). A pattern is what one GPU
 * holds: up to `maxSlots` slots, each a quota level and the *explicit* modules it hosts. Explicit
 * modules are those whose memory or replica count can decide the answer; every other module
 * ("implicit") may use any slot, costs no memory in the relaxation and needs no replica. Every plan of
 * the space maps to a pattern per GPU whose capacity is at least the plan's and whose memory is at most
 * the plan's, so the relaxation's optimum bounds every plan.
 */

import { replicaMemoryBytes, WORKSPACE_BYTES_PER_GPU, WORKSPACE_BYTES_PER_SLOT } from '../../perf/memory';
import type { PerfModel } from '../../perf/perf-model';
import { smsFor } from '../../perf/timing';
import { lowerBoundMs } from '../../perf/lower-bound';
import { leastGradientSync, optimizerStepMs, syncTailAfterBackwardMs } from '../../perf/sync';
import type { BoundTerms } from './terms';
import { DEFAULT_MAX_SLOTS } from '../options';
import { slotFactorFloor, slotPressureFloor } from './interference';

export type Slot = {
  /**
   * Index into `BoundTerms.levels`: the top of the slot's range of levels. With levels grouped
   * (`levelStride` > 1) a plan slot at any level in `low..level` maps here, and its times are the range's fastest.
   */
  readonly level: number;
  /** Index of the lowest level of the range (= `level` when levels are not grouped). */
  readonly low: number;
  /** Explicit modules hosted (indices into `PatternSet.explicit`), ascending. */
  readonly explicit: readonly number[];
};

/**
 * One memory variant of a pattern: for each explicit replica (slot, module) the most microbatches it may
 * hold in flight (`inflight`; fewer than the module's limit caps its microbatches at that number), and
 * the fewest replicas each explicit module needs (`requires`, absent = 1) for the GPU's memory to fit.
 */
export type MemoryVariant = {
  readonly inflight: readonly (readonly number[])[];
  readonly requires: ReadonlyMap<number, number>;
};

export type Pattern = {
  readonly id: number;
  readonly slots: readonly Slot[];
  readonly variant: MemoryVariant;
  readonly smUsed: number;
  /** Each slot's interference floor (interference.ts): fixed by the pattern, so computed once here, not per trial. */
  readonly factors: readonly number[];
};

export type PatternSet = {
  readonly patterns: readonly Pattern[];
  /** Modules tracked per slot (memory, replica counts); the rest may use any slot. */
  readonly explicit: readonly string[];
  readonly implicit: readonly string[];
  /** Replica-count tiers of the memory requirements. */
  readonly tiers: readonly number[];
  readonly notes: readonly string[];
};

export type PatternOptions = {
  readonly maxSlots: number;
  /** Above this many patterns the enumeration throws `TooManyPatterns`. */
  readonly maxPatterns: number;
  /** Modules to keep implicit whatever their memory or tail (the caller's fallback). */
  readonly implicit: readonly string[];
  /**
   * Quota levels grouped this many at a time (default 1: every level its own). A slot of a pattern
   * stands for every level of its group: its times the group's fastest, its SMs the group's bottom.
   * The caller's fallback when even every module implicit gives too many patterns (fine grids: A100).
   */
  readonly levelStride: number;
};

export const DEFAULT_PATTERN_OPTIONS: PatternOptions = { maxSlots: DEFAULT_MAX_SLOTS, maxPatterns: 2500, implicit: [], levelStride: 1 };

export const baseBytes = (slots: number): number => WORKSPACE_BYTES_PER_GPU + WORKSPACE_BYTES_PER_SLOT * Math.max(0, slots - 1);

/** Replica tiers for memory requirements: every count up to 8, then doubling, up to the most replicas. */
export function replicaTiers(maxReplicas: number): number[] {
  const tiers: number[] = [];
  for (let k = 1; k <= Math.min(8, maxReplicas); k++) tiers.push(k);
  for (let k = 16; k < maxReplicas; k *= 2) tiers.push(k);
  if (tiers[tiers.length - 1] !== maxReplicas) tiers.push(maxReplicas);
  return tiers;
}

/**
 * Least memory of one replica of `module` over every replica count in tier `t` (its bytes at the largest
 * count of the tier: ZeRO shards more with more replicas) with `inflight` microbatches held.
 */
function tierBytes(perf: PerfModel, module: string, tiers: readonly number[], t: number, inflight: number): number {
  // Bytes fall with the replica count from 2 on (ZeRO shards); 1 → 2 can rise (ZeRO-3 gathers a block).
  const top = t + 1 < tiers.length ? tiers[t + 1] - 1 : tiers[t];
  return Math.min(replicaMemoryBytes(perf, module, tiers[t], inflight), replicaMemoryBytes(perf, module, top, inflight));
}

/** At most this many explicit modules (2^10 = 1,024 slot subsets); more are demoted to implicit. */
export const MAX_EXPLICIT_MODULES = 10;

/** Thrown when the enumeration passes `maxPatterns`; `explicit` lists the explicit modules, least significant first. */
export class TooManyPatterns extends Error {
  constructor(readonly explicit: readonly string[]) {
    super('too many GPU patterns');
  }
}

export function enumeratePatterns(terms: BoundTerms, options: Partial<PatternOptions> = {}): PatternSet {
  const opts = { ...DEFAULT_PATTERN_OPTIONS, ...options };
  const perf = terms.perf;
  const { cluster } = perf;
  const capacity = perf.capacityBytes;
  const tiers = replicaTiers(terms.maxReplicas);
  // Least bytes any replica of each module can hold: every tier's least, one microbatch in flight.
  const least = new Map(perf.order.map((m) => [m, Math.min(...tiers.map((_, t) => tierBytes(perf, m, tiers, t, 1)))]));
  // Explicit: modules whose memory can matter (≥ 10% of a GPU), and trainable modules whose replica count
  // moves their own tail (sync + step) by more than 1% of the perfect-scaling bound. Others are implicit:
  // valid either way, only looser where an implicit module's memory or tail would have decided.
  const scale = lowerBoundMs(perf);
  const tailRange = (m: string): number => {
    const t = terms.modules.get(m)!;
    if (!t.trainable) return 0;
    return syncTailAfterBackwardMs(leastGradientSync(perf, m, terms.maxReplicas, cluster.nodes > 1), t.backwardMin) + optimizerStepMs(perf, m, 1, 1) - t.ownTailAfterBackwardMs;
  };
  const explicit = perf.order.filter((m) => !opts.implicit.includes(m) && (least.get(m)! >= 0.1 * capacity || tailRange(m) > 0.01 * scale));
  const implicit = perf.order.filter((m) => !explicit.includes(m));
  const sms = terms.levels.map((q) => smsFor(cluster, q));
  // Level groups: the tops of groups of `levelStride` levels counted down from all SMs, each with its
  // lowest level; a slot's times are the group's fastest (interference.ts), its SMs the group's bottom.
  const stride = Math.max(1, Math.floor(opts.levelStride));
  const groups: { level: number; low: number }[] = [];
  for (let top = terms.levels.length - 1; top >= 0; top -= stride) groups.unshift({ level: top, low: Math.max(0, top - stride + 1) });
  const pressesHarder = (s: Slot, next: { level: number; low: number }): boolean => {
    const names = s.explicit.map((i) => explicit[i]);
    return slotPressureFloor(terms, names, implicit, next.level, next.low) > slotPressureFloor(terms, names, implicit, s.level, s.low);
  };
  const groupOf = new Map(groups.map((g, i) => [g.level, i]));
  const smCount = cluster.gpu.smCount;
  const E = explicit.length;
  // 2^E slot subsets: above MAX_EXPLICIT_MODULES (30 explicit modules hung the planner, and 1 << 31
  // wraps) the least significant explicit module is demoted by the caller, as for too many patterns.
  if (explicit.length > MAX_EXPLICIT_MODULES) throw new TooManyPatterns([...explicit].sort((a, b) => least.get(a)! - least.get(b)!));
  // Slot types: a level and an explicit subset (the empty subset only when implicit modules exist).
  const subsets: number[][] = [];
  for (let mask = implicit.length > 0 ? 0 : 1; mask < 1 << E; mask++) subsets.push(explicit.map((_, i) => i).filter((i) => mask & (1 << i)));
  const patterns: Pattern[] = [];
  const notes: string[] = [];
  const bytesCache = new Map<string, number>();
  const bytesOf = (mi: number, t: number, j: number): number => {
    const key = `${mi},${t},${j}`;
    let v = bytesCache.get(key);
    if (v === undefined) bytesCache.set(key, (v = tierBytes(perf, explicit[mi], tiers, t, j)));
    return v;
  };

  /** Memory variants of a slot list: maximal in-flight vectors with their minimal tier requirements. */
  const variantCache = new Map<string, MemoryVariant[]>();
  const variantsOf = (slots: readonly Slot[]): MemoryVariant[] => {
    // Memory depends on the slots' explicit modules, not on their levels.
    const key = slots.map((s) => s.explicit.join('.')).join('|');
    let cached = variantCache.get(key);
    if (!cached) variantCache.set(key, (cached = computeVariants(slots)));
    return cached;
  };
  const computeVariants = (slots: readonly Slot[]): MemoryVariant[] => {
    const reps: { slot: number; mi: number }[] = [];
    slots.forEach((s, si) => s.explicit.forEach((mi) => reps.push({ slot: si, mi })));
    const base = baseBytes(slots.length);
    const mods = [...new Set(reps.map((r) => r.mi))];
    const out: { inflight: number[]; tierIdx: Map<number, number> }[] = [];
    const fits = (inflight: number[], tierOf: Map<number, number>) =>
      base + reps.reduce((s, r, i) => s + bytesOf(r.mi, tierOf.get(r.mi) ?? 0, inflight[i]), 0) <= capacity;
    // The relaxation charges one microbatch in flight per replica (the least any replica holds).
    const caps = reps.map(() => 1);
    // Fast path: everything in flight at the fewest replicas fits, so one variant with no requirement.
    if (fits(caps, new Map())) return [{ inflight: slots.map((s) => s.explicit.map(() => 1)), requires: new Map() }];
    const inflight = reps.map(() => 1);
    for (;;) {
      // Minimal tier vectors for this in-flight vector (modules whose bytes do not depend on the tier stay at 0).
      const idx = mods.map(() => 0);
      const minimal: Map<number, number>[] = [];
      for (;;) {
        const tierOf = new Map(mods.map((m, i) => [m, idx[i]] as [number, number]));
        if (fits(inflight, tierOf) && !minimal.some((v) => mods.every((m) => (v.get(m) ?? 0) <= tierOf.get(m)!))) minimal.push(tierOf);
        let d = 0;
        while (d < idx.length && ++idx[d] === tiers.length) idx[d++] = 0;
        if (d === idx.length) break;
      }
      for (const tierIdx of minimal) out.push({ inflight: [...inflight], tierIdx });
      let d = 0;
      while (d < inflight.length && ++inflight[d] > caps[d]) inflight[d++] = 1;
      if (d === inflight.length) break;
    }
    // Keep variants no other variant beats (more in flight everywhere, no more replicas required).
    const kept = out.filter((a) => !out.some((b) => b !== a && b.inflight.every((v, i) => v >= a.inflight[i]) && mods.every((m) => (b.tierIdx.get(m) ?? 0) <= (a.tierIdx.get(m) ?? 0)) && (b.inflight.some((v, i) => v > a.inflight[i]) || mods.some((m) => (b.tierIdx.get(m) ?? 0) < (a.tierIdx.get(m) ?? 0)))));
    return kept.map((v) => {
      const perSlot = slots.map(() => [] as number[]);
      reps.forEach((r, i) => perSlot[r.slot].push(v.inflight[i]));
      const requires = new Map<number, number>();
      for (const [m, t] of v.tierIdx) if (tiers[t] > 1) requires.set(m, tiers[t]);
      return { inflight: perSlot, requires };
    });
  };

  // Canonical multisets of slot types (level, subset) in non-increasing order, SMs within the GPU.
  const types: Slot[] = [];
  for (let gi = groups.length - 1; gi >= 0; gi--) for (const s of subsets) types.push({ ...groups[gi], explicit: s });
  const chosen: Slot[] = [];
  const visit = (from: number, used: number): void => {
    if (chosen.length > 0) {
      const free = smCount - used;
      // Maximal only: a slot that could be raised one level within the free SMs → dominated, since the
      // relaxation's times never grow with the quota (interference.ts, microbatchMs: the least at any level up
      // to the slot's), unless the raise makes it press harder on its neighbours (interference.ts).
      const raisable = chosen.some((s) => {
          const next = groups[groupOf.get(s.level)! + 1];
          return next !== undefined && sms[next.low] - sms[s.low] <= free && (chosen.length === 1 || !pressesHarder(s, next));
        });
      if (!raisable) {
        const slots = [...chosen];
        const factors = slots.map((_, s) => slotFactorFloor(terms, { explicit, implicit }, slots, s));
        for (const variant of variantsOf(chosen)) {
          if (patterns.length >= opts.maxPatterns) throw new TooManyPatterns([...explicit].sort((a, b) => least.get(a)! - least.get(b)!));
          patterns.push({ id: patterns.length, slots, variant, smUsed: used, factors });
        }
      }
    }
    if (chosen.length === opts.maxSlots) return;
    for (let i = from; i < types.length; i++) {
      const t = types[i];
      if (used + sms[t.low] > smCount) continue;
      chosen.push(t);
      visit(i, used + sms[t.low]);
      chosen.pop();
    }
  };
  visit(0, 0);
  if (stride > 1) notes.push(`to stay under ${opts.maxPatterns} patterns the relaxation groups the quota levels ${stride} at a time (a slot's times the group's fastest, its SMs the group's bottom: a valid, looser bound)`);
  return { patterns, explicit, implicit, tiers, notes };
}
