/**
 * Exact planning by enumeration when the space is small (README.md in this folder, "Enumeration"):
 * every layout of the space up to the symmetry of GPUs within a node and of nodes, each bounded for all
 * its microbatch splits at once, then every split of the layouts that could still beat the best plan,
 * bounded again and simulated where the bound does not rule it out. What is neither simulated nor
 * ruled out does not exist, so the bound it returns is proven over the whole space, whatever the
 * simulator's pipeline waits, which the relaxation cannot see.
 */

import { interferenceFactor, type PerfModel } from '../../perf/perf-model';
import { planMemoryBytes } from '../../perf/memory';
import { smsFor } from '../../perf/timing';
import type { PlanGpu, PlanReplica } from '../../spec/plan';
import { scorePlacement, type ScoredLayout } from '../make-plan';
import { planLowerBound, taskTimes } from './plan-bound';
import type { BoundTerms } from './terms';

export type EnumerationOptions = {
  readonly maxSlots: number;
  /** Most layouts (up to symmetry) it will bound; above, the space is left to the relaxation (default 2,000,000). */
  readonly maxLayouts: number;
  /** Most concrete plans (layouts × splits) it will bound; above, it gives up (default 300,000). */
  readonly maxPlans: number;
  /** Stop once no plan left can beat the best by more than this relative gap (the search's target). */
  readonly targetGap: number;
  /** Wall-clock time (Date.now()) at which it gives up. */
  readonly deadline: number;
};

export const DEFAULT_ENUMERATION = { maxLayouts: 2_000_000, maxPlans: 300_000 } as const;

/** Most GPU configurations listed, whatever the layouts (one GPU on a fine grid has millions). */
const MAX_CONFIGS = 200_000;

export type EnumerationResult =
  | {
      readonly complete: true;
      /** No plan of the space simulates faster (Infinity when no plan of the space fits in memory). */
      readonly boundMs: number;
      /** The fastest plan it simulated, when one beat the incumbent. */
      readonly best?: ScoredLayout;
      readonly layouts: number;
      readonly plans: number;
      readonly simulated: number;
    }
  | {
      readonly complete: false;
      readonly why: string;
      /** False when the space was measured too large before any layout was bounded (nothing to report). */
      readonly tried: boolean;
      readonly best?: ScoredLayout;
    };

type SlotType = { readonly sms: number; readonly quota: number; readonly modules: readonly number[] };

const binomial = (n: number, k: number): number => {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return r;
};

/** Every composition of `total` into `parts` positive integers. */
function compositions(total: number, parts: number): number[][] {
  if (parts === 1) return total >= 1 ? [[total]] : [];
  const out: number[][] = [];
  for (let first = 1; first <= total - parts + 1; first++) for (const rest of compositions(total - first, parts - 1)) out.push([first, ...rest]);
  return out;
}

/** Nondecreasing sequences of `length` indices below `count`: multisets, each once. */
function multisets(count: number, length: number, visit: (pick: readonly number[]) => boolean | void): boolean {
  const pick: number[] = [];
  const walk = (from: number): boolean => {
    if (pick.length === length) return visit(pick) !== false;
    for (let i = from; i < count; i++) {
      pick.push(i);
      const go = walk(i);
      pick.pop();
      if (!go) return false;
    }
    return true;
  };
  return walk(0);
}

/** (B3) of each slot of one GPU configuration, for any plan it is part of (see the caller). */
function configBound(terms: BoundTerms, config: readonly SlotType[], names: readonly string[]): number {
  const perf = terms.perf;
  const slots = config.map((s, i) => ({ id: `s${i}`, quotaFraction: s.quota, smCount: s.sms, modules: s.modules.map((m) => names[m]) }));
  let bound = 0;
  for (const slot of slots) {
    const factor = interferenceFactor(perf, slots.filter((o) => o !== slot), slot);
    let start = Infinity;
    let work = 0;
    for (const m of slot.modules) {
      start = Math.min(start, terms.modules.get(m)!.headMs);
      const { forwardMs, backwardMs } = taskTimes(terms, m, slot.quotaFraction, factor);
      work += forwardMs + backwardMs;
    }
    bound = Math.max(bound, start + work);
  }
  return (bound + terms.fixedMs) * (1 - 1e-12);
}

/**
 * Enumerates the space when it has at most `maxLayouts` layouts; `incumbentMs` is the best simulated
 * time the caller has (a plan of any origin), which prunes from the start.
 */
export function enumerateSpace(terms: BoundTerms, incumbentMs: number, options: EnumerationOptions): EnumerationResult {
  const perf: PerfModel = terms.perf;
  const { cluster, model } = perf;
  const names = perf.order;
  const B = perf.microbatches;
  const micro = model.batch.micro;
  if (names.length > 12) return { complete: false, tried: false, why: `${names.length} modules` };

  // Slot types: a quota level and a non-empty set of modules; GPU configurations: multisets of slot
  // types within the GPU's SMs (none: an idle GPU).
  const types: SlotType[] = [];
  for (const quota of terms.levels) {
    for (let mask = 1; mask < 1 << names.length; mask++) types.push({ sms: smsFor(cluster, quota), quota, modules: names.map((_, i) => i).filter((i) => mask & (1 << i)) });
  }
  const listed: SlotType[][] = [[]];
  // Layouts up to symmetry for a number of GPU configurations: multisets per node, multisets of nodes.
  const layoutsFor = (n: number) => binomial(binomial(n + cluster.gpusPerNode - 1, cluster.gpusPerNode) + cluster.nodes - 1, cluster.nodes);
  // The walk stops at the first configuration count whose layouts alone pass the cap.
  let tooMany = 1;
  while (layoutsFor(tooMany + 1) <= options.maxLayouts && tooMany < MAX_CONFIGS) tooMany++;
  const walk = (from: number, used: number, chosen: SlotType[]): boolean => {
    if (chosen.length > 0) listed.push([...chosen]);
    if (listed.length > tooMany || ((listed.length & 4095) === 0 && Date.now() > options.deadline)) return false;
    if (chosen.length === options.maxSlots) return true;
    for (let i = from; i < types.length; i++) {
      if (used + types[i].sms > cluster.gpu.smCount) continue;
      chosen.push(types[i]);
      const go = walk(i, used + types[i].sms, chosen);
      chosen.pop();
      if (!go) return false;
    }
    return true;
  };
  if (!walk(0, 0, [])) return { complete: false, tried: listed.length <= tooMany, why: listed.length <= tooMany ? 'time limit while listing GPU configurations' : `more than ${tooMany} GPU configurations` };
  // A GPU configuration whose own slot rows (B3 with one microbatch per replica and no tail: the GPU's
  // interference is its own, the start at least the module's earliest anywhere) already reach the
  // incumbent cannot be part of a plan that beats it: it is dropped, and its bound is what it adds.
  let prunedMin = Infinity;
  let best = incumbentMs;
  const theta = () => best / (1 + options.targetGap);
  let bounded = 0;
  const configs = listed.filter((c) => {
    if ((++bounded & 1023) === 0 && Date.now() > options.deadline) return false; // reported below
    const lb = configBound(terms, c, names);
    if (lb < theta()) return true;
    prunedMin = Math.min(prunedMin, lb);
    return false;
  });
  if (Date.now() > options.deadline) return { complete: false, tried: true, why: 'time limit while bounding GPU configurations' };
  const layoutCount = layoutsFor(configs.length);
  if (!(layoutCount <= options.maxLayouts)) return { complete: false, tried: false, why: `about ${layoutCount.toPrecision(2)} layouts up to symmetry, more than ${options.maxLayouts}` };

  // Hosts of each module per configuration, to reject layouts that leave a module without a replica
  // or with more replicas than microbatches before building them.
  const hostCount = configs.map((c) => names.map((_, m) => c.filter((s) => s.modules.includes(m)).length));
  const nodeLayouts: number[][] = [];
  multisets(configs.length, cluster.gpusPerNode, (pick) => void nodeLayouts.push([...pick]));

  type Kept = { readonly lb: number; readonly gpus: PlanGpu[]; readonly hosts: string[][] };
  const kept: Kept[] = [];
  let bestPlan: ScoredLayout | undefined;
  let layouts = 0;
  let plans = 0;
  let simulated = 0;
  const fits = (gpus: readonly PlanGpu[], replicas: readonly PlanReplica[]) => Math.max(...planMemoryBytes(perf, gpus, replicas)) <= perf.capacityBytes;
  const replicasOf = (hosts: readonly string[][], split: readonly (readonly number[])[]): PlanReplica[] =>
    hosts.flatMap((slots, m) => slots.map((slot, index) => ({ module: names[m], index, slot, samples: split[m][index] * micro })));

  // Phase 1: every layout, bounded for all its splits at once. Every row of the plan bound grows with a
  // replica's microbatches and nothing else in it depends on them, so the split of one microbatch per
  // replica bounds every split; its memory, the least of any split, rules out layouts that never fit.
  let outOfTime = false;
  let total = 0; // splits of the layouts kept
  multisets(nodeLayouts.length, cluster.nodes, (nodesPick) => {
    if ((++layouts & 255) === 0 && Date.now() > options.deadline) return !(outOfTime = true);
    const counts = names.map((_, m) => nodesPick.reduce((a, n) => a + nodeLayouts[n].reduce((b, c) => b + hostCount[c][m], 0), 0));
    if (counts.some((c) => c === 0 || c > B)) return;
    const gpus: PlanGpu[] = [];
    const hosts: string[][] = names.map(() => []);
    nodesPick.forEach((n, node) =>
      nodeLayouts[n].forEach((c) => {
        const id = gpus.length;
        gpus.push({
          id,
          node,
          slots: configs[c].map((s, i) => {
            const slotId = `g${id}.s${i}`;
            s.modules.forEach((m) => hosts[m].push(slotId));
            return { id: slotId, quotaFraction: s.quota, smCount: s.sms, modules: s.modules.map((m) => names[m]) };
          }),
        });
      }),
    );
    const ones = replicasOf(hosts, hosts.map((h) => h.map(() => 1)));
    if (!fits(gpus, ones)) return;
    const lb = planLowerBound(terms, gpus, ones).boundMs;
    if (lb >= theta()) prunedMin = Math.min(prunedMin, lb);
    else {
      kept.push({ lb, gpus, hosts });
      total += hosts.reduce((a, h) => a * binomial(B - 1, h.length - 1), 1);
      if (total > options.maxPlans) return false;
    }
  });
  if (outOfTime) return { complete: false, tried: true, why: 'time limit while bounding layouts' };
  if (total > options.maxPlans) return { complete: false, tried: true, why: `more than ${options.maxPlans} plans to bound` };

  // Phase 2: layouts in order of their bound; every split of each, bounded, simulated when the bound
  // leaves it a chance to beat the best plan by more than the target gap.
  kept.sort((a, b) => a.lb - b.lb);
  for (const k of kept) {
    if (k.lb >= theta()) {
      prunedMin = Math.min(prunedMin, k.lb); // and every later layout's bound is at least this
      break;
    }
    const splits = k.hosts.map((h) => compositions(B, h.length));
    const idx = splits.map(() => 0);
    for (;;) {
      if ((++plans & 63) === 0 && Date.now() > options.deadline) return { complete: false, tried: true, why: 'time limit while simulating plans', ...(bestPlan ? { best: bestPlan } : {}) };
      const replicas = replicasOf(k.hosts, idx.map((i, m) => splits[m][i]));
      if (fits(k.gpus, replicas)) {
        const lb = planLowerBound(terms, k.gpus, replicas).boundMs;
        if (lb >= theta()) prunedMin = Math.min(prunedMin, lb);
        else {
          simulated++;
          const scored = scorePlacement(perf, [...k.gpus], replicas);
          if (scored.simulation.iterationMs < best) {
            best = scored.simulation.iterationMs;
            bestPlan = scored;
          }
        }
      }
      let d = 0;
      while (d < idx.length && ++idx[d] === splits[d].length) idx[d++] = 0;
      if (d === idx.length) break;
    }
  }
  return { complete: true, boundMs: Math.min(best, prunedMin), ...(bestPlan ? { best: bestPlan } : {}), layouts, plans, simulated };
}
