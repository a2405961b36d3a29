/**
 * Brute force over concrete plans for tiny instances: every assignment of per-GPU slot lists (up to
 * `maxSlots` slots, each a quota level and any non-empty set of modules, so a module may sit in several
 * slots of a GPU) to the GPUs, up to the order of GPUs within a node and of nodes, every split of each
 * module's microbatches over its replicas (at least one each), scored by the simulator, memory checked
 * exactly. Returns the fastest that fits.
 */

import { planMemoryBytes } from '../../src/perf/memory';
import type { PerfModel } from '../../src/perf/perf-model';
import { simulateIteration } from '../../src/perf/simulate';
import { quotaLevels, smsFor } from '../../src/perf/timing';
import type { PlanGpu, PlanReplica } from '../../src/spec/plan';

type SlotChoice = { readonly sms: number; readonly modules: readonly string[] };

export type BruteForce = { readonly bestMs: number; readonly plans: number };

/** Every composition of `total` into `parts` positive integers. */
function* compositions(total: number, parts: number): Generator<number[]> {
  if (parts === 1) {
    if (total >= 1) yield [total];
    return;
  }
  for (let first = 1; first <= total - parts + 1; first++) for (const rest of compositions(total - first, parts - 1)) yield [first, ...rest];
}

export function bruteForcePlans(perf: PerfModel, maxSlots: number, limit = 2e6): BruteForce {
  const { model, cluster } = perf;
  const names = model.modules.map((m) => m.name);
  const B = perf.microbatches;
  const levels = quotaLevels(cluster).map((q) => smsFor(cluster, q));
  const subsets: string[][] = [];
  for (let mask = 1; mask < 1 << names.length; mask++) subsets.push(names.filter((_, i) => mask & (1 << i)));
  const types: SlotChoice[] = levels.flatMap((sms) => subsets.map((modules) => ({ sms, modules })));
  // Per-GPU configurations: multisets of slot types within the SMs.
  const configs: SlotChoice[][] = [[]];
  const walk = (from: number, used: number, chosen: SlotChoice[]) => {
    if (chosen.length > 0) configs.push([...chosen]);
    if (chosen.length === maxSlots) return;
    for (let i = from; i < types.length; i++) {
      if (used + types[i].sms > cluster.gpu.smCount) continue;
      chosen.push(types[i]);
      walk(i, used + types[i].sms, chosen);
      chosen.pop();
    }
  };
  walk(0, 0, []);
  const perNode = cluster.gpusPerNode;
  const G = cluster.nodes * perNode;
  const capacity = perf.capacityBytes;
  let best = Infinity;
  let plans = 0;
  const pick: number[] = [];
  const layouts = (from: number): void => {
    if (pick.length === G) {
      // Nodes are alike: only their nondecreasing order (by their GPUs' configurations) is scored.
      for (let n = 1; n < cluster.nodes; n++) {
        const a = pick.slice((n - 1) * perNode, n * perNode);
        const b = pick.slice(n * perNode, (n + 1) * perNode);
        const k = a.findIndex((x, i) => x !== b[i]);
        if (k >= 0 && a[k] > b[k]) return;
      }
      const gpus: PlanGpu[] = pick.map((c, g) => ({
        id: g,
        node: Math.floor(g / perNode),
        slots: configs[c].map((s, i) => ({ id: `g${g}.s${i}`, quotaFraction: s.sms / cluster.gpu.smCount, smCount: s.sms, modules: s.modules })),
      }));
      const hosts = new Map(names.map((n) => [n, gpus.flatMap((g) => g.slots.filter((s) => s.modules.includes(n)).map((s) => s.id))]));
      if (names.some((n) => hosts.get(n)!.length === 0 || hosts.get(n)!.length > B)) return;
      const splits = names.map((n) => [...compositions(B, hosts.get(n)!.length)]);
      const idx = names.map(() => 0);
      for (;;) {
        const replicas: PlanReplica[] = [];
        names.forEach((n, i) => splits[i][idx[i]].forEach((c, r) => replicas.push({ module: n, index: r, slot: hosts.get(n)![r], samples: c * model.batch.micro })));
        if (++plans > limit) throw new Error(`brute force passes ${limit} plans`);
        if (Math.max(...planMemoryBytes(perf, gpus, replicas)) <= capacity) best = Math.min(best, simulateIteration(perf, gpus, replicas).iterationMs);
        let d = 0;
        while (d < idx.length && ++idx[d] === splits[d].length) idx[d++] = 0;
        if (d === idx.length) break;
      }
      return;
    }
    // GPUs of one node are alike: their configurations in nondecreasing order.
    for (let c = pick.length % perNode === 0 ? 0 : from; c < configs.length; c++) {
      pick.push(c);
      layouts(c);
      pick.pop();
    }
  };
  layouts(0);
  return { bestMs: best, plans };
}
