/**
 * From a solution of the relaxation to a concrete plan: GPUs per pattern, the microbatches of each
 * slot spread evenly over the pattern's GPUs, GPUs of a module kept inside one node where its chosen
 * class says so. The plan is then scored by the simulator like every other candidate; the relaxation
 * only proposes it.
 */

import type { PlanGpu, PlanReplica, PlanSlot } from '../../spec/plan';
import { smsFor } from '../../perf/timing';
import type { Formulation } from './formulation';
import type { Pattern, PatternSet } from './patterns';
import type { BoundTerms } from './terms';

/** Integers with the given total, each the floor of its share or one more (largest remainders first). */
export function roundToTotal(values: readonly number[], total: number, atLeast: readonly number[] = []): number[] {
  const sum = values.reduce((a, b) => a + b, 0);
  const scaled = values.map((v) => (sum > 0 ? (v * total) / sum : 0));
  const out = scaled.map((v, i) => Math.max(atLeast[i] ?? 0, Math.floor(v + 1e-9)));
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = scaled.map((v, i) => ({ i, frac: v - Math.floor(v + 1e-9) })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (let k = 0; left > 0 && order.length > 0; k = (k + 1) % order.length, left--) out[order[k].i]++;
  // Taking back what the minimums over-gave, from the largest entries above their minimum.
  while (left < 0) {
    let j = -1;
    out.forEach((v, i) => {
      if (v > (atLeast[i] ?? 0) && (j < 0 || v > out[j])) j = i;
    });
    if (j < 0) break;
    out[j]--;
    left++;
  }
  return out;
}

/**
 * With quota levels grouped, a pattern's slots sit at their groups' tops and may need more SMs than the
 * GPU has (their bottoms fit): the slot with the most SMs above its group's bottom steps down a level
 * until they fit.
 */
function fitLevels(terms: BoundTerms, slots: PlanSlot[], levelOf: ReadonlyMap<string, { level: number; low: number }>): PlanSlot[] {
  const { cluster } = terms.perf;
  const level = new Map(slots.map((s) => [s.id, levelOf.get(s.id)!.level]));
  const smsAt = (l: number) => smsFor(cluster, terms.levels[l]);
  const used = () => slots.reduce((sum, s) => sum + smsAt(level.get(s.id)!), 0);
  while (used() > cluster.gpu.smCount) {
    let pick: PlanSlot | undefined;
    for (const s of slots) {
      if (level.get(s.id)! <= levelOf.get(s.id)!.low) continue;
      if (!pick || smsAt(level.get(s.id)!) > smsAt(level.get(pick.id)!)) pick = s;
    }
    if (!pick) break;
    level.set(pick.id, level.get(pick.id)! - 1);
  }
  return slots.map((s) => {
    const q = terms.levels[level.get(s.id)!];
    return { ...s, quotaFraction: q, smCount: smsFor(cluster, q) };
  });
}

export function decodeSolution(terms: BoundTerms, set: PatternSet, f: Formulation, values: ReadonlyMap<string, number>): { gpus: PlanGpu[]; replicas: PlanReplica[] } | undefined {
  const perf = terms.perf;
  const { cluster, model } = perf;
  const B = perf.microbatches;
  const used = set.patterns.map((p) => ({ p, n: Math.round(values.get(f.nName(p.id)) ?? 0) })).filter((u) => u.n > 0);
  // Integer microbatches per (pattern, slot, module), each module's adding up to B.
  const totals = new Map<string, number>();
  for (const m of perf.order) {
    const entries: { key: string; x: number; min: number }[] = [];
    for (const { p, n } of used) {
      p.slots.forEach((slot, s) => {
        if (!f.hosts(p, s).includes(m)) return;
        const explicit = slot.explicit.some((i) => set.explicit[i] === m);
        entries.push({ key: `${p.id}|${s}|${m}`, x: values.get(f.xName(p.id, s, m)) ?? 0, min: explicit ? n : 0 });
      });
    }
    if (entries.length === 0) return undefined;
    const counts = roundToTotal(entries.map((e) => e.x), B, entries.map((e) => e.min));
    if (counts.reduce((a, b) => a + b, 0) !== B) return undefined;
    entries.forEach((e, i) => totals.set(e.key, counts[i]));
  }
  // Modules whose chosen class keeps them inside one node: their patterns go first, from node 0.
  const singleNode = new Set<string>();
  for (const [m, cs] of f.classes) {
    const chosen = cs.length === 1 ? cs[0] : cs.find((_, c) => (values.get(f.yName(m, c)) ?? 0) > 0.5);
    if (chosen && !chosen.spansNodes) singleNode.add(m);
  }
  const hostsSingle = (p: Pattern) => p.slots.some((s) => s.explicit.some((i) => singleNode.has(set.explicit[i])));
  used.sort((a, b) => Number(hostsSingle(b.p)) - Number(hostsSingle(a.p)));

  const gpus: PlanGpu[] = [];
  const replicas: PlanReplica[] = [];
  const nextIndex = new Map<string, number>();
  for (const { p, n } of used) {
    for (let k = 0; k < n; k++) {
      const id = gpus.length;
      if (id >= terms.gpus) return undefined;
      const slots: PlanSlot[] = [];
      const levelOf = new Map<string, { level: number; low: number }>();
      p.slots.forEach((slot, s) => {
        const q = terms.levels[slot.level];
        const here: { m: string; count: number }[] = [];
        for (const m of f.hosts(p, s)) {
          const total = totals.get(`${p.id}|${s}|${m}`) ?? 0;
          const count = Math.floor(total / n) + (k < total % n ? 1 : 0);
          if (count > 0) here.push({ m, count });
        }
        if (here.length === 0) return;
        const slotId = `g${id}.s${slots.length}`;
        levelOf.set(slotId, slot);
        slots.push({ id: slotId, quotaFraction: q, smCount: smsFor(cluster, q), modules: here.map((h) => h.m) });
        for (const h of here) {
          const index = nextIndex.get(h.m) ?? 0;
          nextIndex.set(h.m, index + 1);
          replicas.push({ module: h.m, index, slot: slotId, samples: h.count * model.batch.micro });
        }
      });
      gpus.push({ id, node: perf.nodeOf(id), slots: fitLevels(terms, slots, levelOf) });
    }
  }
  for (let id = gpus.length; id < terms.gpus; id++) gpus.push({ id, node: perf.nodeOf(id), slots: [] });
  return { gpus, replicas };
}
