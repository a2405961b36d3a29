/**
 * Brute-force optima for small cases, to test the ILP's exactness (DESIGN §4.6). Two enumerators:
 *
 * - `bruteForceCounts`: every count vector over a pattern set (Σ n ≤ G), with the memory-tier rule of
 *   the pattern formulation checked directly from replica counts. Checks the ILP against its own
 *   pattern set.
 * - `bruteForceSlots`: no pattern abstraction at all. Every GPU independently takes any set of slots
 *   (each a group of modules at any quota level, free SMs allowed, dominated or not) or stays empty;
 *   every multiset of G such GPUs is scored, and memory is checked GPU by GPU from the plan's own
 *   replica counts. Checks pattern enumeration, dominance pruning and the requirement antichains.
 *
 * Both use the linear rate model (`moduleTimeInPattern`): θ = min over modules of Σ over GPUs of the
 * GPU's rate for that module. Memory follows the tier rule of `MemoryTiers`: a replica of module m in a
 * plan where m has R replicas is charged `bytes(m, largest tier ≤ R)`.
 */

import { MosaicError } from '../../src/errors';
import type { PerfModel } from '../../src/perf/perf-model';
import { quotaLevels } from '../../src/perf/timing';
import { moduleTimeInPattern, type GpuPattern } from '../../src/plan/layout';
import { patternBaseBytes, type MemoryTiers, type PatternSet } from '../../src/plan/throughput/patterns';

export type BruteForceResult = {
  /** Best θ in microbatches per ms (0 when no plan hosts every module). */
  readonly theta: number;
  /** Count vectors (pattern id → count) or GPU configurations examined. */
  readonly examined: number;
};

/** Largest memory tier not above R. */
const tierFloor = (memory: MemoryTiers, replicas: number): number => {
  let best = memory.tiers[0];
  for (const k of memory.tiers) if (k <= replicas) best = k;
  return best;
};

const LIMIT = 5e7;

/**
 * The best θ over every multiset of at most `gpus` GPU choices (choice id → per-module rate and whether
 * it hosts the module), among those `admissible` accepts given the chosen ids and each module's replica
 * count. Both enumerators below are this walk over different choice sets and memory rules.
 */
function bestOverMultisets(
  rate: readonly (readonly number[])[],
  hosts: readonly (readonly number[])[],
  gpus: number,
  admissible: (used: readonly number[], replicas: readonly number[]) => boolean,
  what: string,
): BruteForceResult {
  const modules = rate[0]?.length ?? 0;
  const total = new Array<number>(modules).fill(0);
  const replicas = new Array<number>(modules).fill(0);
  const used: number[] = [];
  let best = 0;
  let examined = 0;
  const rec = (from: number, left: number): void => {
    examined++;
    if (examined > LIMIT) throw new MosaicError('E_INPUT', `brute force over ${what} and ${gpus} GPUs exceeds ${LIMIT} multisets`);
    const theta = Math.min(...total);
    if (theta > best && admissible(used, replicas)) best = theta;
    if (left === 0) return;
    for (let id = from; id < rate.length; id++) {
      used.push(id);
      for (let i = 0; i < modules; i++) {
        total[i] += rate[id][i];
        replicas[i] += hosts[id][i];
      }
      rec(id, left - 1);
      for (let i = 0; i < modules; i++) {
        total[i] -= rate[id][i];
        replicas[i] -= hosts[id][i];
      }
      used.pop();
    }
  };
  rec(0, gpus);
  return { theta: best, examined };
}

export function bruteForceCounts(set: PatternSet, gpus: number): BruteForceResult {
  const mods = set.modules;
  const rate = set.patterns.map((p) => mods.map((m) => p.rates.get(m) ?? 0));
  const hosts = set.patterns.map((p) => mods.map((m) => (p.rates.has(m) ? 1 : 0)));
  const req = set.patterns.map((p) => mods.map((m) => p.requires.get(m) ?? 1));
  // The tier rule of the pattern formulation: a pattern needing m to have ≥ k replicas is usable only then.
  const admissible = (used: readonly number[], replicas: readonly number[]): boolean => used.every((id) => mods.every((_, i) => !hosts[id][i] || replicas[i] >= req[id][i]));
  return bestOverMultisets(rate, hosts, gpus, admissible, `${set.patterns.length} patterns`);
}

/** Every single-GPU configuration: each module in no slot or in one of up to `maxSlots` slots, any levels. */
export function allGpuConfigurations(perf: PerfModel, maxSlots: number): GpuPattern[] {
  const mods = perf.order;
  const sms = quotaLevels(perf.cluster).map((q) => Math.round(q * perf.cluster.gpu.smCount));
  const smCount = perf.cluster.gpu.smCount;
  const out: GpuPattern[] = [];
  const slotOf = mods.map(() => -1);
  const assign = (i: number, slots: number): void => {
    if (i === mods.length) {
      const groups = Array.from({ length: slots }, (_, s) => mods.filter((_, j) => slotOf[j] === s));
      const levels = groups.map(() => 0);
      const fill = (s: number, used: number): void => {
        if (s === slots) {
          out.push(groups.map((g, k) => ({ modules: g, quotaFraction: sms[levels[k]] / smCount })));
          return;
        }
        for (let l = 0; l < sms.length && used + sms[l] <= smCount; l++) {
          levels[s] = l;
          fill(s + 1, used + sms[l]);
        }
      };
      fill(0, 0);
      return;
    }
    // Slots are numbered in order of first use, so each grouping appears once.
    for (let s = -1; s <= Math.min(slots, maxSlots - 1); s++) {
      slotOf[i] = s;
      assign(i + 1, s === slots ? slots + 1 : slots);
    }
  };
  assign(0, 0);
  return out;
}

export function bruteForceSlots(perf: PerfModel, gpus: number, maxSlots: number, memory: MemoryTiers, capacityBytes: number): BruteForceResult {
  const mods = perf.order;
  const configs = allGpuConfigurations(perf, maxSlots);
  const rate = configs.map((c) => {
    const r = mods.map(() => 0);
    c.forEach((slot, i) => {
      const cycle = slot.modules.reduce((s, m) => s + moduleTimeInPattern(perf, c, i, m), 0);
      for (const m of slot.modules) r[mods.indexOf(m)] += 1 / cycle;
    });
    return r;
  });
  const hosts = configs.map((c) => mods.map((m) => (c.some((s) => s.modules.includes(m)) ? 1 : 0)));
  // Memory GPU by GPU, from the plan's own replica counts.
  const fits = (used: readonly number[], replicas: readonly number[]): boolean => {
    for (const id of used) {
      let bytes = patternBaseBytes(configs[id].length);
      for (let i = 0; i < mods.length; i++) if (hosts[id][i]) bytes += memory.bytes(mods[i], tierFloor(memory, replicas[i]));
      if (bytes > capacityBytes) return false;
    }
    return true;
  };
  return bestOverMultisets(rate, hosts, gpus, fits, `${configs.length} GPU configurations`);
}
