/**
 * Refinement of a concrete plan by the simulator itself: first-improvement local search over moves
 * that the relaxation and the heuristic's estimate cannot see the effect of (pipeline waits, in-flight
 * windows, interference of the actual neighbours). A move is kept only when the simulated iteration
 * time falls and every GPU's memory still fits, so the result is never slower than the start.
 *
 * Moves, tried in this order each round:
 * - one microbatch of a module from its replica on the busiest slot to its replica on the idlest slot
 *   (a replica left with none is retired, and a slot left with no module frees its SMs);
 * - one SM step from the idlest slot of a GPU shape to its busiest slot (or from the GPU's free SMs),
 *   applied to every GPU of that shape at once (one GPU alone rarely moves the iteration time);
 * - a module's replicas from one slot of a GPU shape to another slot of it that does not host the
 *   module, on every GPU of the shape (a slot left with no module frees its SMs): a short task that
 *   other GPUs wait for, queued behind a long one on a shared slot, moves to a slot of short tasks;
 * - a module's replicas shared with another slot of the shape that does not host it (half their
 *   microbatches move to a new replica there), and a slot split in two on the quota grid, each half
 *   hosting the same modules with half the microbatches: a module whose GPU time is mostly the host's
 *   launches (a small encoder) runs faster as several replicas in parallel slots of one GPU, which no
 *   other move can reach (PaliGemma-3B on 1×8 H100: the heuristic's 1636 ms plan has its vision encoder
 *   alone on 96 SMs; the exact search's best plan has it in four slots of every GPU).
 */

import type { PerfModel } from '../perf/perf-model';
import { DEFAULT_MAX_SLOTS } from './options';
import { quotaLevels, smsFor } from '../perf/timing';
import type { PlanGpu, PlanReplica, PlanSlot } from '../spec/plan';
import { scorePlacement, type ScoredLayout } from './make-plan';

export type PolishOptions = {
  /** Most simulations (default 200): the search's cost, independent of the machine's speed. */
  readonly maxSimulations: number;
  /** Wall-clock deadline (ms since the epoch); the search stops at the first check past it. */
  readonly deadlineMs: number;
};

export const DEFAULT_POLISH_OPTIONS: PolishOptions = { maxSimulations: 200, deadlineMs: Infinity };

export type Polished = {
  readonly scored: ScoredLayout;
  readonly moves: number;
  readonly simulations: number;
  /** No move of the last round was faster (not stopped by the budget): polishing the result again finds nothing. */
  readonly converged: boolean;
};

type Placement = { gpus: PlanGpu[]; replicas: PlanReplica[] };

const RELATIVE_IMPROVEMENT = 1e-6;

/**
 * One microbatch of replica `a` moves to replica `b` of the same module. A replica left with none is
 * retired: it leaves its slot's module list, and a slot left with no module leaves its GPU (its SMs free).
 */
function moveMicrobatch(p: Placement, a: PlanReplica, b: PlanReplica, micro: number): Placement {
  if (a.samples > micro) {
    return { gpus: p.gpus, replicas: p.replicas.map((r) => (r === a ? { ...r, samples: r.samples - micro } : r === b ? { ...r, samples: r.samples + micro } : r)) };
  }
  const replicas = p.replicas.filter((r) => r !== a).map((r) => (r === b ? { ...r, samples: r.samples + micro } : r));
  const stillHosts = replicas.some((r) => r.slot === a.slot && r.module === a.module);
  return { gpus: stillHosts ? p.gpus : withoutModule(p.gpus, new Set([a.slot]), a.module), replicas };
}

/** The GPUs with `module` gone from the slots in `slots`; a slot left with no module leaves its GPU (its SMs free). */
function withoutModule(gpus: readonly PlanGpu[], slots: ReadonlySet<string>, module: string): PlanGpu[] {
  return gpus.map((g) => ({ ...g, slots: g.slots.map((s) => (slots.has(s.id) ? { ...s, modules: s.modules.filter((m) => m !== module) } : s)).filter((s) => s.modules.length > 0) }));
}

/**
 * Every replica of `module` on slot position `from` of the GPUs in `members` moves to position `to` of
 * the same GPU, which then hosts the module (listed in the model's order).
 */
function relocate(p: Placement, members: readonly PlanGpu[], from: number, to: number, module: string, order: readonly string[]): Placement {
  const target = new Map(members.map((g) => [g.slots[from].id, g.slots[to].id]));
  const hosts = new Set(target.values());
  const replicas = p.replicas.map((r) => (r.module === module && target.has(r.slot) ? { ...r, slot: target.get(r.slot)! } : r));
  const added = p.gpus.map((g) => ({ ...g, slots: g.slots.map((s) => (hosts.has(s.id) ? { ...s, modules: order.filter((m) => m === module || s.modules.includes(m)) } : s)) }));
  return { gpus: withoutModule(added, new Set(target.keys()), module), replicas };
}

/** A slot id of GPU `g` that it does not use yet. */
function freshSlotId(g: PlanGpu): string {
  for (let k = g.slots.length; ; k++) if (!g.slots.some((s) => s.id === `g${g.id}.s${k}`)) return `g${g.id}.s${k}`;
}

/**
 * Each replica of a module in `modules` on a slot in `from` (a map to the slot that receives) keeps the
 * larger half of its microbatches and gives the smaller half, when it has two or more, to a new replica
 * of the module on the receiving slot. Returns the replicas and the modules each receiving slot gained.
 */
function shareReplicas(replicas: readonly PlanReplica[], from: ReadonlyMap<string, string>, modules: (m: string) => boolean, micro: number): { replicas: PlanReplica[]; gained: Map<string, Set<string>> } {
  const nextIndex = new Map<string, number>();
  for (const r of replicas) nextIndex.set(r.module, Math.max(nextIndex.get(r.module) ?? 0, r.index + 1));
  const out: PlanReplica[] = [];
  const gained = new Map<string, Set<string>>();
  for (const r of replicas) {
    const to = from.get(r.slot);
    const count = r.samples / micro;
    if (to === undefined || !modules(r.module) || count < 2) {
      out.push(r);
      continue;
    }
    const given = Math.floor(count / 2);
    const index = nextIndex.get(r.module)!;
    nextIndex.set(r.module, index + 1);
    out.push({ ...r, samples: (count - given) * micro }, { module: r.module, index, slot: to, samples: given * micro });
    gained.set(to, (gained.get(to) ?? new Set()).add(r.module));
  }
  return { replicas: out, gained };
}

export function polishPlacement(perf: PerfModel, start: ScoredLayout, options: Partial<PolishOptions> = {}): Polished {
  const opts = { ...DEFAULT_POLISH_OPTIONS, ...options };
  const capacity = perf.capacityBytes;
  const micro = perf.model.batch.micro;
  const levels = quotaLevels(perf.cluster);
  const levelSms = levels.map((q) => smsFor(perf.cluster, q));
  const smCount = perf.cluster.gpu.smCount;
  let current = start;
  let simulations = 0;
  let moves = 0;
  const exhausted = () => simulations >= opts.maxSimulations || Date.now() >= opts.deadlineMs;
  const busyOf = (slot: string) => current.simulation.slotBusyMs.get(slot) ?? 0;

  // Microbatch moves, from the busiest replicas of each module to its idlest.
  function* microbatchMoves(): Generator<Placement> {
    for (const module of perf.order) {
      const reps = current.replicas.filter((r) => r.module === module);
      if (reps.length < 2) continue;
      const byBusy = [...reps].sort((a, b) => busyOf(b.slot) - busyOf(a.slot));
      for (const a of byBusy.slice(0, 2)) for (const b of [...byBusy].reverse().slice(0, 2)) if (a !== b) yield moveMicrobatch(current, a, b, micro);
    }
  }
  // GPUs of one shape (the same slots, SMs and modules) move together: one GPU alone rarely moves the iteration time.
  const shapes = (): PlanGpu[][] => {
    const byKey = new Map<string, PlanGpu[]>();
    for (const g of current.gpus) {
      if (g.slots.length === 0) continue;
      const key = g.slots.map((s) => `${s.smCount}:${s.modules.join('+')}`).join('|');
      byKey.set(key, [...(byKey.get(key) ?? []), g]);
    }
    return [...byKey.values()];
  };
  // Quota moves per GPU shape: one step up for its busiest slot, from free SMs or the idlest donors.
  function* quotaMoves(): Generator<Placement> {
    for (const members of shapes()) {
      const g0 = members[0];
      const n = g0.slots.length;
      // Slot positions of the shape, by busy time summed over its GPUs.
      const load = g0.slots.map((_, i) => members.reduce((s, g) => s + busyOf(g.slots[i].id), 0));
      const order = load.map((_, i) => i).sort((a, b) => load[b] - load[a]);
      const up = order[0];
      const lvl = (s: PlanSlot) => levels.findIndex((q) => Math.abs(q - s.quotaFraction) < 1e-9);
      const upLevel = lvl(g0.slots[up]);
      if (upLevel < 0 || upLevel + 1 >= levels.length) continue;
      const used = g0.slots.reduce((s, x) => s + x.smCount, 0);
      const gain = smsFor(perf.cluster, levels[upLevel + 1]) - g0.slots[up].smCount;
      const donors: (number | undefined)[] = used + gain <= smCount ? [undefined] : [];
      for (const i of [...order].reverse()) if (i !== up && n > 1) donors.push(i);
      for (const donor of donors) {
        const changes = new Map<number, number>([[up, upLevel + 1]]);
        if (donor !== undefined) {
          const dLevel = lvl(g0.slots[donor]);
          if (dLevel <= 0) continue;
          // The donor gives the fewest steps that make room.
          let next = dLevel - 1;
          while (next >= 0 && used + gain - (g0.slots[donor].smCount - smsFor(perf.cluster, levels[next])) > smCount) next--;
          if (next < 0) continue;
          changes.set(donor, next);
        }
        const ids = new Set(members.map((g) => g.id));
        const gpus = current.gpus.map((g) =>
          ids.has(g.id) ? { ...g, slots: g.slots.map((s, i) => (changes.has(i) ? { ...s, quotaFraction: levels[changes.get(i)!], smCount: smsFor(perf.cluster, levels[changes.get(i)!]) } : s)) } : g,
        );
        yield { gpus, replicas: current.replicas };
      }
    }
  }
  // Per GPU shape, each module of each slot position and each other position that does not host it.
  function* moduleMoves(): Generator<{ members: PlanGpu[]; from: number; to: number; module: string }> {
    for (const members of shapes()) {
      const slots = members[0].slots;
      for (let from = 0; from < slots.length; from++) {
        for (const module of slots[from].modules) {
          for (let to = 0; to < slots.length; to++) if (to !== from && !slots[to].modules.includes(module)) yield { members, from, to, module };
        }
      }
    }
  }
  // Relocations: the module's replicas on `from` move to `to`, on every GPU of the shape.
  function* relocations(): Generator<Placement> {
    for (const { members, from, to, module } of moduleMoves()) yield relocate(current, members, from, to, module, perf.order);
  }

  // Shares: the module's replicas on `from` give half their microbatches to new replicas on `to`, on every GPU of the shape.
  function* shares(): Generator<Placement> {
    for (const { members, from, to, module } of moduleMoves()) {
      const { replicas, gained } = shareReplicas(current.replicas, new Map(members.map((g) => [g.slots[from].id, g.slots[to].id])), (m) => m === module, micro);
      if (gained.size === 0) continue;
      const gpus = current.gpus.map((g) => ({ ...g, slots: g.slots.map((s) => (gained.has(s.id) ? { ...s, modules: perf.order.filter((m) => m === module || s.modules.includes(m)) } : s)) }));
      yield { gpus, replicas };
    }
  }
  // A slot split in two on the quota grid (the lower half no smaller than the grid's first level), on every GPU of the shape.
  function* splits(): Generator<Placement> {
    for (const members of shapes()) {
      const g0 = members[0];
      if (g0.slots.length >= DEFAULT_MAX_SLOTS) continue;
      for (let i = 0; i < g0.slots.length; i++) {
        const sms = g0.slots[i].smCount;
        const half = levelSms.filter((l) => l <= sms / 2 && levelSms.includes(sms - l)).pop();
        if (half === undefined) continue;
        const fresh = new Map(members.map((g) => [g.slots[i].id, freshSlotId(g)]));
        const { replicas, gained } = shareReplicas(current.replicas, fresh, () => true, micro);
        if (gained.size === 0) continue;
        const ids = new Set(members.map((g) => g.id));
        const gpus = current.gpus.map((g) => {
          if (!ids.has(g.id)) return g;
          const s = g.slots[i];
          const added: PlanSlot = { id: fresh.get(s.id)!, quotaFraction: half / smCount, smCount: half, modules: perf.order.filter((m) => gained.get(fresh.get(s.id)!)?.has(m)) };
          return { ...g, slots: [...g.slots.map((x) => (x === s ? { ...x, quotaFraction: (sms - half) / smCount, smCount: sms - half } : x)), added] };
        });
        yield { gpus, replicas };
      }
    }
  }

  function* candidates(): Generator<Placement> {
    yield* microbatchMoves();
    yield* quotaMoves();
    yield* relocations();
    yield* shares();
    yield* splits();
  }

  // First improvement: each round tries the moves in order and takes the first that is faster and fits.
  let converged = false;
  for (;;) {
    let improved = false;
    let ranOut = false;
    for (const p of candidates()) {
      if ((ranOut = exhausted())) break;
      simulations++;
      const scored = scorePlacement(perf, [...p.gpus], p.replicas);
      if (Math.max(...scored.memoryBytes) > capacity || scored.simulation.iterationMs >= current.simulation.iterationMs * (1 - RELATIVE_IMPROVEMENT)) continue;
      current = scored;
      moves++;
      improved = true;
      break;
    }
    if (!improved) {
      converged = !ranOut;
      break;
    }
  }
  return { scored: current, moves, simulations, converged };
}
