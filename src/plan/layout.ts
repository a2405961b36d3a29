import type { PlanGpu, PlanReplica, PlanSlot } from '../spec/plan';
import type { PerfModel } from '../perf/perf-model';
import { interferenceFactor } from '../perf/perf-model';
import { smsFor } from '../perf/timing';

/**
 * A compact description of a plan that planners search over: GPU patterns and how many GPUs use each.
 * A pattern is the list of slots one GPU holds; a slot is a quota and the modules that share it in time.
 * The same shape is the ILP's pattern formulation (DESIGN §4.3).
 */
export type SlotPattern = { readonly modules: readonly string[]; readonly quotaFraction: number };
export type GpuPattern = readonly SlotPattern[];
export type Layout = readonly { readonly pattern: GpuPattern; readonly count: number }[];

/** A layout's identity (its entries with GPUs, in order): what local search has seen and what the simulation cache keys on. */
export const layoutKey = (layout: Layout): string => JSON.stringify(layout.filter((e) => e.count > 0));

/** Per-microbatch time of one module on a slot of a pattern, with interference from the other slots. */
export function moduleTimeInPattern(perf: PerfModel, pattern: GpuPattern, slotIndex: number, module: string): number {
  const slot = pattern[slotIndex];
  const t = perf.timings.get(module)!;
  const factor = interferenceFactor(perf, pattern.filter((_, i) => i !== slotIndex), { modules: [module], quotaFraction: slot.quotaFraction });
  return (t.forwardMs(slot.quotaFraction) + t.backwardMs(slot.quotaFraction)) * factor;
}

/**
 * Turns a layout into concrete GPUs, slots and replicas. GPUs are filled in layout order, node by node.
 * Microbatches go one at a time to the replica whose slot would finish its load soonest (heaviest
 * module first), so time-shared slots are balanced over all the modules they hold.
 */
export function decodeLayout(perf: PerfModel, layout: Layout): { gpus: PlanGpu[]; replicas: PlanReplica[] } {
  const { cluster, model } = perf;
  const totalMicro = perf.microbatches;
  const placed: { gpu: number; slotIndex: number; pattern: GpuPattern }[] = [];
  const slotsByGpu: { quota: number; modules: string[] }[][] = [];
  let gpu = 0;
  for (const { pattern, count } of layout) {
    for (let c = 0; c < count; c++, gpu++) {
      slotsByGpu.push(pattern.map((s) => ({ quota: s.quotaFraction, modules: [...s.modules] })));
      pattern.forEach((_, slotIndex) => placed.push({ gpu, slotIndex, pattern }));
    }
  }
  const slotKey = (g: number, s: number) => `${g}:${s}`;
  const load = new Map<string, number>();
  const counts = new Map<string, Map<string, number>>(); // module -> slotKey -> microbatches
  const work = (m: string) => {
    const t = perf.timings.get(m)!;
    return t.forwardMs(1) + t.backwardMs(1);
  };
  const modules = [...model.modules.map((m) => m.name)].sort((a, b) => work(b) - work(a));
  for (const m of modules) {
    const hosts = placed.filter((p) => p.pattern[p.slotIndex].modules.includes(m));
    if (hosts.length === 0) continue;
    const cost = hosts.map((h) => moduleTimeInPattern(perf, h.pattern, h.slotIndex, m));
    // Loads and counts of this module's hosts in arrays (one key string per host, not per microbatch:
    // at 16,384 microbatches on 128 GPUs the string keys took a second per layout).
    const keys = hosts.map((h) => slotKey(h.gpu, h.slotIndex));
    const loads = keys.map((k) => load.get(k) ?? 0);
    const given = keys.map(() => 0);
    for (let k = 0; k < totalMicro; k++) {
      let best = 0;
      let bestEnd = Infinity;
      for (let i = 0; i < loads.length; i++) {
        const end = loads[i] + cost[i];
        if (end < bestEnd - 1e-12) {
          bestEnd = end;
          best = i;
        }
      }
      loads[best] = bestEnd;
      given[best]++;
    }
    const per = new Map<string, number>();
    keys.forEach((key, i) => {
      load.set(key, loads[i]);
      if (given[i] > 0) per.set(key, given[i]);
    });
    counts.set(m, per);
  }
  const gpus: PlanGpu[] = [];
  const replicas: PlanReplica[] = [];
  const nextIndex = new Map<string, number>();
  slotsByGpu.forEach((slots, g) => {
    const planSlots: PlanSlot[] = [];
    slots.forEach((s, si) => {
      const key = slotKey(g, si);
      const used = s.modules.filter((m) => (counts.get(m)?.get(key) ?? 0) > 0);
      if (used.length === 0) return;
      const id = `g${g}.s${planSlots.length}`;
      planSlots.push({ id, quotaFraction: s.quota, smCount: smsFor(cluster, s.quota), modules: used });
      for (const m of used) {
        const index = nextIndex.get(m) ?? 0;
        nextIndex.set(m, index + 1);
        replicas.push({ module: m, index, slot: id, samples: counts.get(m)!.get(key)! * model.batch.micro });
      }
    });
    gpus.push({ id: g, node: perf.nodeOf(g), slots: planSlots });
  });
  return { gpus, replicas };
}
