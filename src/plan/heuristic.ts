import type { PerfModel } from '../perf/perf-model';
import { interferenceFactor } from '../perf/perf-model';
import { quotaLevels } from '../perf/timing';
import { estimateLayoutMs, layoutMemoryBound } from './estimate';
import { capacityBytes } from './fits';
import type { GpuPattern, Layout, SlotPattern } from './layout';

export type HeuristicCandidate = { readonly name: string; readonly layout: Layout; readonly estimateMs: number };

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
 * fit on one GPU even at the minimum partition.
 */
export function waterFill(perf: PerfModel, groups: readonly (readonly string[])[], gpus: number): GpuPattern | undefined {
  const g = perf.cluster.gpu;
  const levels = quotaLevels(perf.cluster);
  const microPerGpu = perf.model.batch.global / perf.model.batch.micro / gpus;
  const level = groups.map(() => 0);
  const smsAt = (i: number) => Math.round(levels[i] * g.smCount);
  if (groups.length * smsAt(0) > g.smCount) return undefined;
  const pattern = (): SlotPattern[] => groups.map((modules, i) => ({ modules, quotaFraction: levels[level[i]] }));
  const groupMs = (p: GpuPattern, i: number, quotaFraction: number) => {
    const factor = interferenceFactor(perf, p.filter((_, j) => j !== i));
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
  if (layoutMemoryBound(perf, layout) > capacityBytes(perf)) return Infinity;
  return estimateLayoutMs(perf, layout);
}

const key = (layout: Layout) => JSON.stringify(layout.filter((e) => e.count > 0));

/** Neighbouring layouts: re-quota one slot by a step, move GPUs between patterns, split or merge slots. */
function* neighbours(perf: PerfModel, layout: Layout, heavy: string): Generator<Layout> {
  const g = perf.cluster.gpu;
  const step = g.smGranularity.step / g.smCount;
  const min = g.smGranularity.min / g.smCount;
  const total = (p: GpuPattern) => p.reduce((s, x) => s + x.quotaFraction, 0);
  const replace = (i: number, pattern: GpuPattern): Layout => layout.map((e, j) => (j === i ? { ...e, pattern } : e));
  for (let i = 0; i < layout.length; i++) {
    const p = layout[i].pattern;
    for (let a = 0; a < p.length; a++) {
      const up = p.map((s, k) => (k === a ? { ...s, quotaFraction: roundQuota(s.quotaFraction + step) } : s));
      if (total(up) <= 1 + 1e-9) yield replace(i, up);
      for (let b = 0; b < p.length; b++) {
        if (a === b || p[b].quotaFraction - step < min - 1e-9) continue;
        yield replace(i, p.map((s, k) => (k === a ? { ...s, quotaFraction: roundQuota(s.quotaFraction + step) } : k === b ? { ...s, quotaFraction: roundQuota(s.quotaFraction - step) } : s)));
      }
      for (let b = a + 1; b < p.length; b++) {
        const merged = { modules: [...p[a].modules, ...p[b].modules], quotaFraction: roundQuota(p[a].quotaFraction + p[b].quotaFraction) };
        yield replace(i, [...p.filter((_, k) => k !== a && k !== b), merged]);
      }
      if (p[a].modules.length > 1 && p[a].quotaFraction - min >= min - 1e-9) {
        // What is left after carving out the smallest partition, down to a partition size: a whole-GPU
        // slot (132 SMs on H100, off the 8+8k grid) keeps 120 SMs, not 124.
        const restSms = Math.round((p[a].quotaFraction - min) * g.smCount);
        const restOnGrid = g.smGranularity.min + Math.floor((restSms - g.smGranularity.min) / g.smGranularity.step) * g.smGranularity.step;
        for (const m of p[a].modules) {
          const rest = { modules: p[a].modules.filter((x) => x !== m), quotaFraction: roundQuota(restOnGrid / g.smCount) };
          yield replace(i, [...p.filter((_, k) => k !== a), rest, { modules: [m], quotaFraction: roundQuota(min) }]);
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

function roundQuota(q: number): number {
  return Math.round(q * 1e9) / 1e9;
}

/** First-improvement local search on the estimate, from a starting layout. */
export function localSearch(perf: PerfModel, start: Layout, maxSteps = 200): { layout: Layout; estimateMs: number } {
  const work = (m: string) => {
    const t = perf.timings.get(m)!;
    return t.forwardMs(1) + t.backwardMs(1);
  };
  const heavy = [...perf.order].sort((a, b) => work(b) - work(a))[0];
  let current = start.filter((e) => e.count > 0);
  let currentMs = evaluate(perf, current);
  const seen = new Set([key(current)]);
  for (let stepIndex = 0; stepIndex < maxSteps; stepIndex++) {
    let improved = false;
    for (const candidate of neighbours(perf, current, heavy)) {
      const cleaned = candidate.filter((e) => e.count > 0 && e.pattern.length > 0);
      const k = key(cleaned);
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
 * water-filled quotas on every GPU (uniform), each improved by local search. The caller simulates the
 * best few and the baselines and keeps the fastest.
 */
export function heuristicCandidates(perf: PerfModel, seeds: readonly Layout[], keep = 6): HeuristicCandidate[] {
  const gpus = perf.cluster.nodes * perf.cluster.gpusPerNode;
  const uniform: HeuristicCandidate[] = [];
  for (const groups of setPartitions(perf.order)) {
    const pattern = waterFill(perf, groups, gpus);
    if (!pattern) continue;
    const layout: Layout = [{ pattern, count: gpus }];
    uniform.push({ name: 'waterfill', layout, estimateMs: evaluate(perf, layout) });
  }
  uniform.sort((a, b) => a.estimateMs - b.estimateMs);
  const starts = [...uniform.slice(0, keep).filter((c) => Number.isFinite(c.estimateMs)), ...seeds.map((layout) => ({ name: 'kept-baseline', layout, estimateMs: evaluate(perf, layout) }))];
  const out = new Map<string, HeuristicCandidate>();
  for (const s of [...starts]) {
    out.set(key(s.layout), s);
    const improved = localSearch(perf, s.layout);
    const k = key(improved.layout);
    if (Number.isFinite(improved.estimateMs) && k !== key(s.layout) && !out.has(k)) out.set(k, { name: `local-search-from-${s.name}`, ...improved });
  }
  return [...out.values()].filter((c) => Number.isFinite(c.estimateMs)).sort((a, b) => a.estimateMs - b.estimateMs).slice(0, keep);
}
