import type { PerfModel } from '../perf/perf-model';
import { interferenceFactor } from '../perf/perf-model';
import { quotaLevels } from '../perf/timing';
import { estimateLayoutMs, layoutMemoryBound } from './estimate';
import { layoutKey, type GpuPattern, type Layout, type SlotPattern } from './layout';
import { DEFAULT_MAX_SLOTS } from './options';

export type HeuristicCandidate = { readonly name: string; readonly layout: Layout; readonly estimateMs: number };

/**
 * Up to this many modules the heuristic tries every set partition (Bell(7) = 877 groupings; Bell(12) is
 * 4.2 million, Bell(30) about 8.5e23, which hung the planner). Above it, `candidateGroupings` tries the
 * contiguous splits of the modules ordered by their work, into at most `MAX_GROUPS_LARGE` groups.
 */
export const MAX_EXHAUSTIVE_MODULES = 7;
/** Groups per GPU tried above MAX_EXHAUSTIVE_MODULES: the default slot cap of the exact search. */
export const MAX_GROUPS_LARGE = 4;

/**
 * The groupings the heuristic starts from: every set partition for at most MAX_EXHAUSTIVE_MODULES
 * modules; otherwise the modules sorted by `work` (descending) cut into 1..MAX_GROUPS_LARGE contiguous
 * runs, so modules of similar size share a slot (C(n-1, 0..3) groupings: 4,090 for 30 modules).
 */
export function candidateGroupings<T>(items: readonly T[], work: (item: T) => number): T[][][] {
  if (items.length <= MAX_EXHAUSTIVE_MODULES) return setPartitions(items);
  const sorted = [...items].sort((a, b) => work(b) - work(a));
  const out: T[][][] = [];
  const cut = (start: number, groupsLeft: number, acc: T[][]): void => {
    if (groupsLeft === 1) {
      out.push([...acc, sorted.slice(start)]);
      return;
    }
    for (let end = start + 1; end < sorted.length; end++) cut(end, groupsLeft - 1, [...acc, sorted.slice(start, end)]);
  };
  for (let k = 1; k <= Math.min(MAX_GROUPS_LARGE, sorted.length); k++) cut(0, k, []);
  return out;
}

/** All ways to split modules into groups (set partitions), each group to share one slot in time. */
export function setPartitions<T>(items: readonly T[]): T[][][] {
  if (items.length === 0) return [[]];
  const [first, ...rest] = items;
  const out: T[][][] = [];
  for (const p of setPartitions(rest)) {
    out.push([[first], ...p]);
    p.forEach((_, i) => out.push(p.map((g, j) => (j === i ? [first, ...g] : g))));
  }
  return out;
}

/**
 * Water-filling of quota levels across the groups of one GPU pattern used on `gpus` GPUs: every group
 * starts at the smallest partition; the bottleneck group (longest time for its share of microbatches)
 * takes the fewest SM steps that shorten it, while SMs remain. Returns undefined if the groups do not
 * fit on one GPU even at the minimum partition. `copies` > 1: the groups are repeated that many times
 * on each GPU (several replicas of each per GPU), each copy running its share of the microbatches.
 */
export function waterFill(perf: PerfModel, groupsOnce: readonly (readonly string[])[], gpus: number, copies = 1): GpuPattern | undefined {
  const g = perf.cluster.gpu;
  const levels = quotaLevels(perf.cluster);
  const groups = Array.from({ length: copies }, () => groupsOnce).flat();
  const microPerGpu = perf.microbatches / gpus / copies;
  const level = groups.map(() => 0);
  const smsAt = (i: number) => Math.round(levels[i] * g.smCount);
  if (groups.length * smsAt(0) > g.smCount) return undefined;
  const pattern = (): SlotPattern[] => groups.map((modules, i) => ({ modules, quotaFraction: levels[level[i]] }));
  const groupMs = (p: GpuPattern, i: number, quotaFraction: number) => {
    const factor = interferenceFactor(perf, p.filter((_, j) => j !== i), p[i]);
    return microPerGpu * factor * groups[i].reduce((s, m) => {
      const t = perf.timings.get(m)!;
      return s + t.forwardMs(quotaFraction) + t.backwardMs(quotaFraction);
    }, 0);
  };
  for (;;) {
    const p = pattern();
    const used = level.reduce((s, l) => s + smsAt(l), 0);
    let bottleneck = 0;
    let worst = -Infinity;
    groups.forEach((_, i) => {
      const ms = groupMs(p, i, levels[level[i]]);
      if (ms > worst) {
        worst = ms;
        bottleneck = i;
      }
    });
    let next = level[bottleneck] + 1;
    while (next < levels.length && groupMs(p, bottleneck, levels[next]) >= worst * (1 - 1e-9)) next++;
    if (next >= levels.length || used - smsAt(level[bottleneck]) + smsAt(next) > g.smCount) break;
    level[bottleneck] = next;
  }
  return pattern();
}

function evaluate(perf: PerfModel, layout: Layout): number {
  if (layoutMemoryBound(perf, layout) > perf.capacityBytes) return Infinity;
  return estimateLayoutMs(perf, layout);
}


/** Neighbouring layouts: re-quota one slot by a step, move GPUs between patterns, split or merge slots. */
function* neighbours(perf: PerfModel, layout: Layout, heavy: string): Generator<Layout> {
  // Moves stay on the device's quota levels (multiples of the SM step, and all SMs): 132 SMs minus one
  // step of 8 is 124, which no partition of an H100 can have.
  const levels = quotaLevels(perf.cluster);
  const min = levels[0]!;
  const at = (q: number) => levels.findIndex((l) => Math.abs(l - q) < 1e-9);
  const up = (q: number) => levels[at(q) + 1];
  const down = (q: number) => (at(q) > 0 ? levels[at(q) - 1] : undefined);
  const below = (q: number) => [...levels].reverse().find((l) => l <= q + 1e-9);
  const total = (p: GpuPattern) => p.reduce((s, x) => s + x.quotaFraction, 0);
  const replace = (i: number, pattern: GpuPattern): Layout => layout.map((e, j) => (j === i ? { ...e, pattern } : e));
  for (let i = 0; i < layout.length; i++) {
    const p = layout[i].pattern;
    for (let a = 0; a < p.length; a++) {
      const qa = up(p[a].quotaFraction);
      if (qa !== undefined) {
        const raised = p.map((s, k) => (k === a ? { ...s, quotaFraction: qa } : s));
        if (total(raised) <= 1 + 1e-9) yield replace(i, raised);
        for (let b = 0; b < p.length; b++) {
          const qb = down(p[b].quotaFraction);
          if (a === b || qb === undefined) continue;
          yield replace(i, p.map((s, k) => (k === a ? { ...s, quotaFraction: qa } : k === b ? { ...s, quotaFraction: qb } : s)));
        }
      }
      for (let b = a + 1; b < p.length; b++) {
        const q = below(p[a].quotaFraction + p[b].quotaFraction);
        if (q === undefined) continue;
        // A module in both slots (layouts with several replicas per GPU) is listed once: twice, the decoder gave it two replicas on one slot.
        const merged = { modules: [...new Set([...p[a].modules, ...p[b].modules])], quotaFraction: q };
        yield replace(i, [...p.filter((_, k) => k !== a && k !== b), merged]);
      }
      const restQuota = below(p[a].quotaFraction - min);
      if (p[a].modules.length > 1 && restQuota !== undefined && restQuota >= min - 1e-9) {
        for (const m of p[a].modules) {
          const rest = { modules: p[a].modules.filter((x) => x !== m), quotaFraction: restQuota };
          yield replace(i, [...p.filter((_, k) => k !== a), rest, { modules: [m], quotaFraction: min }]);
        }
      }
    }
    // Some GPUs of this pattern without one of its modules (its slot dropped, or the module taken out
    // of a shared slot): a module that needs few replicas (a host-bound text encoder) then holds SMs
    // on fewer GPUs, and the re-quota moves of later steps give them to the others.
    if (p.length > 1 || p[0].modules.length > 1) {
      for (const m of new Set(p.flatMap((slot) => slot.modules))) {
        const without = p.flatMap((slot) => (slot.modules.includes(m) ? (slot.modules.length > 1 ? [{ ...slot, modules: slot.modules.filter((x) => x !== m) }] : []) : [slot]));
        // Coarse steps only (a quarter or half of the pattern's GPUs, single GPUs on up to 4): single-GPU
        // steps on 128 GPUs took local search from 0.2 s to 3 s for a 1% better estimate.
        for (const delta of new Set([layout[i].count <= 4 ? 1 : 0, Math.floor(layout[i].count / 4), Math.floor(layout[i].count / 2)])) {
          if (delta < 1 || delta > layout[i].count) continue;
          yield [...layout.map((e, k) => (k === i ? { ...e, count: e.count - delta } : e)), { pattern: without, count: delta }];
        }
      }
    }
    // Move GPUs from this pattern to another one, or to the heavy module alone at 100%.
    const alone: GpuPattern = [{ modules: [heavy], quotaFraction: 1 }];
    const targets = [...layout.map((e) => e.pattern), alone];
    for (const delta of new Set([1, Math.max(1, Math.floor(layout[i].count / 4))])) {
      if (layout[i].count - delta < 0) continue;
      for (let j = 0; j < targets.length; j++) {
        if (j === i) continue;
        const moved = layout.map((e, k) => (k === i ? { ...e, count: e.count - delta } : k === j ? { ...e, count: e.count + delta } : e));
        yield j < layout.length ? moved : [...moved, { pattern: targets[j], count: delta }];
      }
    }
  }
}

/**
 * Entries with the same pattern merged into one (their GPU counts added), in first-seen order: moves
 * that create a pattern already in the layout would otherwise split it into ever more entries, and the
 * neighbourhood grows with the square of the entries (PaliGemma-3B on 16×8 H100 reached 123 entries and
 * took 4 minutes).
 */
function mergeEntries(layout: Layout): Layout {
  const byKey = new Map<string, { pattern: GpuPattern; count: number }>();
  for (const e of layout) {
    const k = JSON.stringify(e.pattern);
    const seen = byKey.get(k);
    if (seen) seen.count += e.count;
    else byKey.set(k, { pattern: e.pattern, count: e.count });
  }
  return [...byKey.values()];
}

/**
 * First-improvement local search on the estimate, from a starting layout; it never leaves the plan space
 * (at most `maxSlots` slots per GPU), whose bound the planner reports.
 */
export function localSearch(perf: PerfModel, start: Layout, maxSteps = 200, maxSlots = DEFAULT_MAX_SLOTS): { layout: Layout; estimateMs: number } {
  const work = (m: string) => {
    const t = perf.timings.get(m)!;
    return t.forwardMs(1) + t.backwardMs(1);
  };
  const heavy = [...perf.order].sort((a, b) => work(b) - work(a))[0];
  let current: Layout = start.filter((e) => e.count > 0);
  let currentMs = evaluate(perf, current);
  const seen = new Set([layoutKey(current)]);
  for (let stepIndex = 0; stepIndex < maxSteps; stepIndex++) {
    let improved = false;
    for (const candidate of neighbours(perf, current, heavy)) {
      const cleaned = mergeEntries(candidate.filter((e) => e.count > 0 && e.pattern.length > 0));
      if (cleaned.some((e) => e.pattern.length > maxSlots)) continue;
      const k = layoutKey(cleaned);
      if (seen.has(k)) continue;
      seen.add(k);
      const ms = evaluate(perf, cleaned);
      if (ms < currentMs * (1 - 1e-6)) {
        current = cleaned;
        currentMs = ms;
        improved = true;
        break;
      }
    }
    if (!improved) break;
  }
  return { layout: current, estimateMs: currentMs };
}

/**
 * Heuristic candidates, best first by the estimate: every grouping of modules into slots with
 * water-filled quotas on every GPU (uniform), also repeated 2..`maxSlots`/groups times per GPU (a module
 * whose time barely falls with the quota, such as a host-bound encoder, runs faster as several replicas
 * side by side than as one with more SMs), each improved by local search. The caller simulates the best
 * few and the baselines and keeps the fastest.
 */
export function heuristicCandidates(perf: PerfModel, seeds: readonly { readonly name: string; readonly layout: Layout }[], keep = 6, maxSlots = DEFAULT_MAX_SLOTS): HeuristicCandidate[] {
  const gpus = perf.gpuCount;
  const uniform: HeuristicCandidate[] = [];
  const work = (m: string) => {
    const t = perf.timings.get(m)!;
    return t.forwardMs(1) + t.backwardMs(1);
  };
  for (const groups of candidateGroupings(perf.order, work)) {
    for (let copies = 1; copies * groups.length <= Math.max(maxSlots, groups.length); copies++) {
      const pattern = waterFill(perf, groups, gpus, copies);
      if (!pattern) break;
      const layout: Layout = [{ pattern, count: gpus }];
      uniform.push({ name: copies === 1 ? 'waterfill' : `waterfill-${copies}-copies`, layout, estimateMs: evaluate(perf, layout) });
    }
  }
  uniform.sort((a, b) => a.estimateMs - b.estimateMs);
  const starts = [...uniform.slice(0, keep).filter((c) => Number.isFinite(c.estimateMs)), ...seeds.map((s) => ({ name: `baseline:${s.name}`, layout: s.layout, estimateMs: evaluate(perf, s.layout) }))];
  const out = new Map<string, HeuristicCandidate>();
  for (const s of [...starts]) {
    out.set(layoutKey(s.layout), s);
    const improved = localSearch(perf, s.layout, undefined, maxSlots);
    const k = layoutKey(improved.layout);
    if (Number.isFinite(improved.estimateMs) && k !== layoutKey(s.layout) && !out.has(k)) out.set(k, { name: `local-search-from-${s.name.replace(/^baseline:/, '')}`, ...improved });
  }
  return [...out.values()].filter((c) => Number.isFinite(c.estimateMs)).sort((a, b) => a.estimateMs - b.estimateMs).slice(0, keep);
}

/**
 * Every module time-sharing each of k equal-ish slots of every GPU (k = 2..`maxSlots`, water-filled):
 * k data-parallel replicas per GPU. Simulated whatever their estimate: the estimate charges a fill and
 * drain these layouts do not pay, and for modules whose time barely falls with the quota (host-bound
 * encoders) they beat every one-replica-per-GPU layout: OpenVLA-7B on 1×8 H100, 4 slots of 32 SMs,
 * simulates at 1796 ms against 1949 ms for the best water-filled layout.
 */
export function replicatedSeeds(perf: PerfModel, maxSlots = DEFAULT_MAX_SLOTS): { name: string; layout: Layout }[] {
  const out: { name: string; layout: Layout }[] = [];
  for (let copies = 2; copies <= maxSlots; copies++) {
    const pattern = waterFill(perf, [perf.order], perf.gpuCount, copies);
    if (pattern) out.push({ name: `waterfill-${copies}-copies`, layout: [{ pattern, count: perf.gpuCount }] });
  }
  return out;
}

/** Node counts tried by `nodeConfinedSeeds`: 1, 2, 4 (below the cluster's). */
const CONFINED_NODE_COUNTS = [1, 2, 4];

/**
 * Layouts that keep the largest gradient sync inside fewer nodes, for clusters of several nodes: every
 * module time-shares the GPUs of the first n nodes, and the other nodes run every module but the one
 * with the most parameters (or nothing). On slow links between nodes the all-reduce of a large module
 * over every node costs more than the compute its extra replicas save, and neither the uniform
 * water-filled layouts nor local search (which keeps GPU counts per pattern) reach these.
 */
export function nodeConfinedSeeds(perf: PerfModel): { name: string; layout: Layout }[] {
  const { nodes, gpusPerNode } = perf.cluster;
  if (nodes < 2) return [];
  const trainable = perf.order.filter((m) => perf.moduleByName.get(m)!.trainable);
  if (trainable.length === 0) return [];
  const largest = trainable.reduce((a, b) => (perf.timings.get(b)!.params > perf.timings.get(a)!.params ? b : a));
  const others = perf.order.filter((m) => m !== largest);
  const out: { name: string; layout: Layout }[] = [];
  for (const n of CONFINED_NODE_COUNTS.filter((k) => k < nodes)) {
    const inside = n * gpusPerNode;
    const all: SlotPattern[] = [{ modules: perf.order, quotaFraction: 1 }];
    out.push({ name: `sequential-on-${n}-of-${nodes}-nodes`, layout: [{ pattern: all, count: inside }] });
    if (others.length > 0) out.push({ name: `${largest}-on-${n}-of-${nodes}-nodes`, layout: [{ pattern: all, count: inside }, { pattern: [{ modules: others, quotaFraction: 1 }], count: perf.gpuCount - inside }] });
  }
  return out;
}
