/**
 * A lower bound on the simulated iteration time of one concrete plan (README.md in this folder,
 * "Lower bound", rows (B1)–(B3)), from the plan's own quotas, neighbours, replica counts and nodes.
 * It is what `mosaic score` reports per plan, what the property tests check against the simulator,
 * and the quantity the exact planner's relaxation under-estimates for every plan at once.
 */

import { interferenceFactor, type PerfModel } from '../../perf/perf-model';
import { collectiveStretchMs, distinctNodes, gradientSync, optimizerStepMs, syncTailAfterBackwardMs, type GradientSync } from '../../perf/sync';
import { BYTES_PER_ELEMENT } from '../../perf/kernels';
import type { PlanGpu, PlanReplica } from '../../spec/plan';
import type { BoundTerms } from './terms';

export type PlanBound = {
  readonly boundMs: number;
  /** The row that binds, in words, e.g. `slot g0.s1: start 3.1 + work 412.0 + optimizer steps 8.2`. */
  readonly binding: string;
};

type Rep = {
  readonly module: string;
  readonly slot: string;
  readonly gpu: number;
  readonly node: number;
  readonly quota: number;
  readonly count: number;
  readonly forwardMs: number;
  readonly backwardMs: number;
  readonly stepMs: number;
};

/**
 * A replica's forward and backward task times as the simulator charges them: the module's time at the
 * slot's quota stretched by the slot's interference factor, plus the engine's cost per task (no
 * backward for a module that has none).
 */
export function taskTimes(terms: BoundTerms, module: string, quota: number, factor: number): { readonly forwardMs: number; readonly backwardMs: number } {
  const t = terms.perf.timings.get(module)!;
  const taskMs = terms.perf.engineCosts?.perTaskMs ?? 0;
  return { forwardMs: t.forwardMs(quota) * factor + taskMs, backwardMs: terms.modules.get(module)!.hasBackward ? t.backwardMs(quota) * factor + taskMs : 0 };
}

export function planLowerBound(terms: BoundTerms, gpus: readonly PlanGpu[], replicas: readonly PlanReplica[]): PlanBound {
  const perf: PerfModel = terms.perf;
  const { model, cluster } = perf;
  const micro = model.batch.micro;
  const slotOf = new Map<string, { gpu: number; node: number; quota: number; factor: number }>();
  for (const g of gpus) {
    for (const s of g.slots) slotOf.set(s.id, { gpu: g.id, node: g.node, quota: s.quotaFraction, factor: interferenceFactor(perf, g.slots.filter((o) => o.id !== s.id), s) });
  }
  const byModule = new Map<string, Rep[]>(perf.order.map((m) => [m, []]));
  const counts = new Map<string, number>();
  for (const r of replicas) counts.set(r.module, (counts.get(r.module) ?? 0) + 1);
  for (const r of replicas) {
    const s = slotOf.get(r.slot)!;
    const mt = terms.modules.get(r.module)!;
    byModule.get(r.module)!.push({
      module: r.module,
      slot: r.slot,
      gpu: s.gpu,
      node: s.node,
      quota: s.quota,
      count: r.samples / micro,
      ...taskTimes(terms, r.module, s.quota, s.factor),
      stepMs: mt.trainable ? optimizerStepMs(perf, r.module, counts.get(r.module)!, s.quota) : 0,
    });
  }
  const e = BYTES_PER_ELEMENT[model.precision];
  const spec = perf.moduleByName;
  const engine = perf.engineCosts;
  const linkMs = (a: Rep, slot: string, bytes: number): number => {
    const b = slotOf.get(slot)!;
    if (a.gpu === b.gpu) return a.slot === slot ? 0 : engine?.perHopMs ?? 0;
    const gbps = a.node === b.node ? cluster.links.intraNodeGBps : cluster.links.interNodeGBps;
    return cluster.links.latencyUs / 1000 + bytes / (gbps * 1e6);
  };

  // (B0) earliest start of module m on a slot: for every input, its fastest replica's first forward plus the transfer.
  const head = new Map<string, Map<string, number>>();
  for (const m of perf.order) {
    const slots = new Map<string, number>();
    for (const r of byModule.get(m)!) {
      let h = 0;
      for (const u of spec.get(m)!.inputs) {
        const bytes = spec.get(u)!.outputElementsPerSample * micro * e;
        let earliest = Infinity;
        for (const ru of byModule.get(u)!) earliest = Math.min(earliest, head.get(u)!.get(ru.slot)! + ru.forwardMs + linkMs(ru, r.slot, bytes));
        h = Math.max(h, earliest);
      }
      slots.set(r.slot, h);
    }
    head.set(m, slots);
  }

  // Tails: after a module's last backward, its sync (bucketed: syncTailMs, with the backward floor it
  // counted) and a step, and its inputs' backwards.
  const sync = new Map<string, GradientSync>();
  const maxStep = new Map<string, number>();
  const minStep = new Map<string, number>();
  const fastestBackward = new Map<string, number>();
  for (const m of perf.order) {
    const reps = byModule.get(m)!;
    sync.set(m, gradientSync(perf, m, terms.modules.get(m)!.trainable ? reps.length : 0, distinctNodes(reps.map((r) => r.node))));
    maxStep.set(m, Math.max(0, ...reps.map((r) => r.stepMs)));
    minStep.set(m, reps.length > 0 ? Math.min(...reps.map((r) => r.stepMs)) : 0);
    fastestBackward.set(m, Math.min(...reps.map((r) => r.backwardMs)));
  }
  /** After a replica's work whose last microbatch counted a backward of `backward`: until its sync ends (hidden = μ − φ − β/k with μ = φ + β). */
  const syncAfter = (m: string, backward: number): number => syncTailAfterBackwardMs(sync.get(m)!, backward);
  // The replica's last backward runs longer while the collective holds SMs (at least this, from its floor).
  const held = terms.collectiveSmFraction;
  const stretch = (r: Rep): number => collectiveStretchMs(sync.get(r.module)!, r.backwardMs, held);
  const workOf = (r: Rep): number => r.count * (r.forwardMs + r.backwardMs) + stretch(r);
  const lastSyncAfter = (r: Rep): number => syncAfter(r.module, r.backwardMs + stretch(r));
  const drain = new Map<string, number>();
  const tailAfterBackward = new Map<string, number>();
  for (const m of perf.order) {
    let d = 0;
    for (const u of spec.get(m)!.inputs) {
      const mu = terms.modules.get(u)!;
      if (!mu.hasBackward) continue;
      d = Math.max(d, fastestBackward.get(u)! + tailAfterBackward.get(u)!);
    }
    drain.set(m, d);
    const own = terms.modules.get(m)!.trainable ? syncAfter(m, fastestBackward.get(m)!) + minStep.get(m)! : 0;
    tailAfterBackward.set(m, Math.max(d, own));
  }
  const tailAfterLast = (r: Rep): number => {
    const mt = terms.modules.get(r.module)!;
    if (!mt.hasBackward) return mt.afterForwardMs;
    return Math.max(drain.get(r.module)!, mt.trainable ? lastSyncAfter(r) + r.stepMs : 0);
  };

  let boundMs = 0;
  let binding = 'no work';
  const consider = (ms: number, words: () => string) => {
    if (ms > boundMs) {
      boundMs = ms;
      binding = words();
    }
  };
  const f = (ms: number) => ms.toFixed(3);
  const slotReps = new Map<string, Rep[]>();
  for (const m of perf.order) {
    let syncEnd = 0;
    let ends = '';
    for (const r of byModule.get(m)!) {
      const h = head.get(m)!.get(r.slot)!;
      const work = workOf(r);
      // (B1) one replica: its start, all its microbatches, then what must follow its last task.
      const tail = tailAfterLast(r);
      consider(h + work + tail, () => `replica of ${m} on ${r.slot}: start ${f(h)} + work ${f(work)} + tail ${f(tail)}`);
      slotReps.set(r.slot, [...(slotReps.get(r.slot) ?? []), r]);
      const after = lastSyncAfter(r);
      if (h + work + after > syncEnd) {
        syncEnd = h + work + after;
        ends = `last backward on ${r.slot} ${f(h + work)} + sync ${f(after)}`;
      }
    }
    // (B2) a trainable module: the end of its sync (the latest replica's decides), then the slowest of its replicas' steps.
    if (terms.modules.get(m)!.trainable && byModule.get(m)!.length > 0) {
      consider(syncEnd + maxStep.get(m)!, () => `module ${m}: ${ends} + step ${f(maxStep.get(m)!)}`);
    }
  }
  // (B3) one slot: its first task's start, every task on it, then its optimizer steps (or the least tail).
  for (const [slot, reps] of slotReps) {
    const start = Math.min(...reps.map((r) => head.get(r.module)!.get(slot)!));
    const work = reps.reduce((s, r) => s + workOf(r), 0);
    const steps = reps.reduce((s, r) => s + r.stepMs, 0);
    const after = Math.max(steps, Math.min(...reps.map(tailAfterLast)));
    consider(start + work + after, () => `slot ${slot}: start ${f(start)} + work ${f(work)} + after ${f(after)}`);
  }
  // The same sums in another order differ in the last bit: a bound that is exactly tight must not exceed the simulation by rounding.
  return { boundMs: (boundMs + terms.fixedMs) * (1 - 1e-12), binding };
}
