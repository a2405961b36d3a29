/**
 * Feasible single-GPU patterns for the pattern formulation (README.md in this folder, "Patterns").
 *
 * A pattern is what one GPU holds: a few slots, each a group of modules that time-share it at one
 * quota level. Patterns are enumerated from set partitions of subsets of the modules (at most
 * `maxSlots` groups) and level vectors whose SMs sum to at most the GPU's. Each pattern carries its
 * per-module rate (microbatches per ms on one GPU, interference included, exactly as
 * `estimateLayoutMs` counts it) and the fewest replicas each of its modules needs for the memory to fit.
 */

import { MosaicError } from '../../errors';
import { replicaMemoryBytes, WORKSPACE_BYTES_PER_GPU, WORKSPACE_BYTES_PER_SLOT } from '../../perf/memory';
import type { PerfModel } from '../../perf/perf-model';
import { quotaLevels } from '../../perf/timing';
import { setPartitions } from '../heuristic';
import { moduleTimeInPattern, type GpuPattern } from '../layout';

export type PatternOptions = {
  /** Most slots (execution contexts) per GPU. */
  readonly maxSlots: number;
  /** Most patterns; above it the quota grid is coarsened (every 2nd level, every 3rd, ...). */
  readonly maxPatterns: number;
  /** Wall-clock time (`Date.now()`) past which the enumeration stops with `PatternsOutOfTime`; default none. */
  readonly deadlineMs?: number;
};

/** The enumeration passed `deadlineMs`: the caller's share of the time limit ran out first. */
export class PatternsOutOfTime extends Error {}

export const DEFAULT_PATTERN_OPTIONS: PatternOptions = { maxSlots: 4, maxPatterns: 1500 };

/** Patterns enumerated before the Pareto filter, per `maxPatterns`: bounds the O(P·K) filter's cost. */
const RAW_FACTOR = 8;

export type Pattern = {
  /** Index in `PatternSet.patterns`; the ILP variable is `n[p<id>]`. */
  readonly id: number;
  readonly pattern: GpuPattern;
  /** Microbatches per ms that one GPU with this pattern processes for each module it hosts. */
  readonly rates: ReadonlyMap<string, number>;
  /**
   * Fewest replicas (a tier) each module needs over the whole plan for this GPU's memory to fit;
   * modules needing only 1 are absent. See `MemoryTiers`.
   */
  readonly requires: ReadonlyMap<string, number>;
  /** Conservative memory of the GPU when every requirement is met, in bytes. */
  readonly memoryBytes: number;
  readonly smUsed: number;
};

/**
 * Conservative per-replica memory by replica tier. ZeRO shards weights, gradients and optimizer state
 * over a module's replicas, so a replica's memory depends on how many there are. A pattern cannot know
 * that count, so it states a requirement "module m has ≥ k replicas" (k from `tiers`) and is charged
 * `bytes(m, k) = max over R in [k, maxReplicas] of replicaMemoryBytes(m, R, all microbatches)`: the
 * most the replica can need for any replica count the requirement allows (ZeRO-3 with one layer is not
 * monotone in R, hence the max) and with the most microbatches in flight. The decoded plan's exact
 * memory can only be lower, as long as the decoded plan keeps the replicas the ILP counted.
 */
export type MemoryTiers = {
  readonly tiers: readonly number[];
  readonly maxReplicas: number;
  readonly bytes: (module: string, tier: number) => number;
};

export type PatternSet = {
  readonly patterns: readonly Pattern[];
  readonly modules: readonly string[];
  /** Quota levels (fractions) the patterns were drawn from, after any coarsening. */
  readonly levels: readonly number[];
  /** 1 = every level of `quotaLevels(cluster)`; k = every k-th level counted down from 100%. */
  readonly levelStride: number;
  readonly maxSlots: number;
  readonly memory: MemoryTiers;
  readonly capacityBytes: number;
  /** Patterns pruned because a one-level raise of a slot is at least as fast for every module. */
  readonly dominated: number;
  /** Patterns pruned because another pattern is at least as fast for every module and needs no more replicas. */
  readonly paretoDominated: number;
  /** Module sets whose memory does not fit at any tier, with the tiers tried. */
  readonly memoryRejected: number;
  readonly notes: readonly string[];
};

export function memoryTiers(perf: PerfModel): MemoryTiers {
  const microbatches = perf.microbatches;
  const maxReplicas = Math.max(1, Math.min(perf.gpuCount, microbatches));
  const tiers: number[] = [];
  for (let k = 1; k < maxReplicas; k *= 2) tiers.push(k);
  tiers.push(maxReplicas);
  const table = new Map<string, Map<number, number>>();
  for (const m of perf.order) {
    // suffix max over R = maxReplicas..1
    const byTier = new Map<number, number>();
    let suffix = -Infinity;
    const at: number[] = [];
    for (let r = maxReplicas; r >= 1; r--) {
      suffix = Math.max(suffix, replicaMemoryBytes(perf, m, r, microbatches));
      at[r] = suffix;
    }
    for (const k of tiers) byTier.set(k, at[k]);
    table.set(m, byTier);
  }
  return {
    tiers,
    maxReplicas,
    bytes: (module, tier) => {
      const v = table.get(module)?.get(tier);
      if (v === undefined) throw new MosaicError('E_INTERNAL', `no memory tier ${tier} for module "${module}" (a bug)`);
      return v;
    },
  };
}

/** Per-GPU fixed memory: the context and workspaces, plus one more per extra slot. */
export const patternBaseBytes = (slots: number): number => WORKSPACE_BYTES_PER_GPU + WORKSPACE_BYTES_PER_SLOT * Math.max(0, slots - 1);

/**
 * The minimal requirement vectors (an antichain) under which modules `mods` fit on one GPU with `slots`
 * slots: each a map module → tier, and the GPU's bytes. Empty when they never fit.
 */
export function minimalRequirements(
  mods: readonly string[],
  slots: number,
  memory: MemoryTiers,
  capacity: number,
): { requires: Map<string, number>; bytes: number }[] {
  const base = patternBaseBytes(slots);
  // Modules whose bytes do not depend on the tier never need a requirement.
  const varying = mods.filter((m) => memory.tiers.some((k) => memory.bytes(m, k) !== memory.bytes(m, 1)));
  const fixed = mods.filter((m) => !varying.includes(m)).reduce((s, m) => s + memory.bytes(m, 1), 0);
  const fits: { tiers: number[]; bytes: number }[] = [];
  const T = memory.tiers;
  const idx = varying.map(() => 0);
  for (;;) {
    const bytes = base + fixed + varying.reduce((s, m, i) => s + memory.bytes(m, T[idx[i]]), 0);
    if (bytes <= capacity) fits.push({ tiers: idx.map((i) => T[i]), bytes });
    let d = 0;
    while (d < idx.length && ++idx[d] === T.length) idx[d++] = 0;
    if (d === idx.length) break;
  }
  const minimal = fits.filter((a) => !fits.some((b) => b !== a && b.tiers.every((t, i) => t <= a.tiers[i]) && b.tiers.some((t, i) => t < a.tiers[i])));
  return minimal.map((f) => ({
    requires: new Map(varying.map((m, i) => [m, f.tiers[i]] as [string, number]).filter(([, k]) => k > 1)),
    bytes: f.bytes,
  }));
}

/** Per-module rate of one GPU holding `pattern`: a slot shared in time gives each member 1/Σ times. */
export function patternRates(perf: PerfModel, pattern: GpuPattern): Map<string, number> {
  const rates = new Map<string, number>();
  pattern.forEach((slot, i) => {
    const cycle = slot.modules.reduce((s, m) => s + moduleTimeInPattern(perf, pattern, i, m), 0);
    for (const m of slot.modules) rates.set(m, (rates.get(m) ?? 0) + 1 / cycle);
  });
  return rates;
}

/** Groupings: set partitions of every non-empty subset of the modules into at most `maxSlots` groups. */
export function groupings(modules: readonly string[], maxSlots: number): string[][][] {
  const out: string[][][] = [];
  for (let mask = 1; mask < 1 << modules.length; mask++) {
    const subset = modules.filter((_, i) => mask & (1 << i));
    for (const p of setPartitions(subset)) if (p.length <= maxSlots) out.push(p);
  }
  return out;
}

class TooMany extends Error {}

/** Level grid after coarsening: every `stride`-th SM count counted down from the whole GPU. */
function levelGrid(perf: PerfModel, stride: number): number[] {
  const all = quotaLevels(perf.cluster).map((q) => Math.round(q * perf.cluster.gpu.smCount));
  return all.filter((_, i) => (all.length - 1 - i) % stride === 0);
}

const RATE_TOLERANCE = 1e-12;

/**
 * Drops every pattern q for which another pattern p is at least as fast for every module (a module p
 * does not host counts 0) and requires no more replicas of any module (absent = 1). Swapping q for p in
 * any solution keeps every row satisfied and θ no lower, so the optimum is unchanged. Of equal
 * patterns the first is kept. Candidates are visited by decreasing total rate so a dominator comes first.
 */
export function paretoFilter(modules: readonly string[], patterns: readonly Pattern[]): Pattern[] {
  const scale = modules.map((m) => Math.max(1e-300, ...patterns.map((p) => p.rates.get(m) ?? 0)));
  const rows = patterns.map((p) => ({
    p,
    rate: modules.map((m) => p.rates.get(m) ?? 0),
    req: modules.map((m) => p.requires.get(m) ?? 1),
    total: modules.reduce((s, m, i) => s + (p.rates.get(m) ?? 0) / scale[i], 0),
  }));
  rows.sort((a, b) => b.total - a.total || a.p.id - b.p.id);
  const kept: typeof rows = [];
  for (const q of rows) {
    const dominated = kept.some((p) => {
      for (let i = 0; i < modules.length; i++) if (p.rate[i] < q.rate[i] || p.req[i] > q.req[i]) return false;
      return true;
    });
    if (!dominated) kept.push(q);
  }
  return kept.sort((a, b) => a.p.id - b.p.id).map((r) => r.p);
}

/**
 * Enumerates the non-dominated feasible patterns. A pattern with free SMs is dropped when raising one
 * of its slots by one level (within the SMs) gives every module a rate at least as high (interference
 * can make a raise slow a neighbour, so a non-maximal pattern is kept when no raise dominates it).
 * Throws E_INTERNAL only for bugs; an empty set is a value (nothing fits).
 */
export function enumeratePatterns(perf: PerfModel, options: Partial<PatternOptions> = {}): PatternSet {
  const opts = { ...DEFAULT_PATTERN_OPTIONS, ...options };
  if (!(opts.maxSlots >= 1) || !(opts.maxPatterns >= 1)) {
    throw new MosaicError('E_INPUT', `Expected maxSlots ≥ 1 and maxPatterns ≥ 1 but received ${opts.maxSlots} and ${opts.maxPatterns}`);
  }
  const memory = memoryTiers(perf);
  const capacity = perf.capacityBytes;
  const levelCount = quotaLevels(perf.cluster).length;
  // Strides grow by half each time (1, 2, 3, 5, 8, 12, 18, …), not by one: every failed attempt enumerates
  // up to the cap before it gives up, and on fine grids (an A100's 108 SMs, six modules) one step at a
  // time took 18 attempts and 20 s of a 10 s planning budget. The coarser grid this may settle on is
  // said in the notes, as before.
  for (let stride = 1; ; stride = Math.min(levelCount, Math.max(stride + 1, Math.round(stride * 1.5)))) {
    try {
      return enumerateWithStride(perf, opts, memory, capacity, stride);
    } catch (e) {
      if (!(e instanceof TooMany)) throw e;
      if (stride >= levelCount) {
        throw new MosaicError('E_INPUT', `more than ${opts.maxPatterns} GPU patterns even with only the 100% quota level; lower maxSlots (${opts.maxSlots})`);
      }
    }
  }
}

function enumerateWithStride(perf: PerfModel, opts: PatternOptions, memory: MemoryTiers, capacity: number, stride: number): PatternSet {
  const smCount = perf.cluster.gpu.smCount;
  const grid = levelGrid(perf, stride);
  const patterns: Pattern[] = [];
  const memoCache = new Map<string, { requires: Map<string, number>; bytes: number }[]>();
  let dominated = 0;
  let memoryRejected = 0;
  let leaves = 0;
  const groups = groupings(perf.order, Math.min(opts.maxSlots, Math.floor(smCount / grid[0])));
  for (const grouping of groups) {
    const mods = grouping.flat();
    const memKey = `${[...mods].sort().join(',')}|${grouping.length}`;
    let reqs = memoCache.get(memKey);
    if (!reqs) {
      reqs = minimalRequirements(mods, grouping.length, memory, capacity);
      memoCache.set(memKey, reqs);
      if (reqs.length === 0) memoryRejected++;
    }
    if (reqs.length === 0) continue;
    const k = grouping.length;
    const level = new Array<number>(k).fill(0);
    const make = (lv: readonly number[]): GpuPattern => grouping.map((g, i) => ({ modules: g, quotaFraction: grid[lv[i]] / smCount }));
    const visit = (depth: number, used: number): void => {
      if (depth === k) {
        const pattern = make(level);
        const rates = patternRates(perf, pattern);
        const free = smCount - used;
        for (let i = 0; i < k; i++) {
          const next = level[i] + 1;
          if (next >= grid.length || grid[next] - grid[level[i]] > free) continue;
          const raised = level.map((l, j) => (j === i ? next : l));
          const better = patternRates(perf, make(raised));
          if ([...rates].every(([m, r]) => better.get(m)! >= r * (1 - RATE_TOLERANCE))) {
            dominated++;
            return;
          }
        }
        if (opts.deadlineMs !== undefined && ++leaves % 64 === 0 && Date.now() > opts.deadlineMs) throw new PatternsOutOfTime();
        for (const req of reqs!) {
          if (patterns.length >= opts.maxPatterns * RAW_FACTOR) throw new TooMany();
          patterns.push({ id: patterns.length, pattern, rates, requires: req.requires, memoryBytes: req.bytes, smUsed: used });
        }
        return;
      }
      for (let l = 0; l < grid.length; l++) {
        if (used + grid[l] > smCount) break;
        level[depth] = l;
        visit(depth + 1, used + grid[l]);
      }
    };
    visit(0, 0);
  }
  const kept = paretoFilter(perf.order, patterns);
  if (kept.length > opts.maxPatterns) throw new TooMany();
  const paretoDominated = patterns.length - kept.length;
  patterns.length = 0;
  kept.forEach((p, id) => patterns.push({ ...p, id }));
  const notes: string[] = [];
  if (stride > 1) notes.push(`quota grid coarsened to every ${ordinal(stride)} level (${grid.length} levels) to stay under ${opts.maxPatterns} patterns; optimality is over this grid`);
  return {
    patterns,
    modules: perf.order,
    levels: grid.map((s) => s / smCount),
    levelStride: stride,
    maxSlots: opts.maxSlots,
    memory,
    capacityBytes: capacity,
    dominated,
    paretoDominated,
    memoryRejected,
    notes,
  };
}

/** 2 → "2nd", 3 → "3rd", 11 → "11th". */
function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th';
  return `${n}${suffix}`;
}
