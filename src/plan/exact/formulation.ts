/**
 * The relaxation at a fixed iteration time T (README.md in this folder, rows (1)–(9)): can the cluster's
 * GPUs, each running one pattern, finish every module's microbatches by T under the rows (B1)–(B3) of
 * the lower bound? Infeasible (proven by the solver) means no plan of the space simulates in T or less.
 *
 * Plain data in, a solver-neutral `MilpModel` out; names carry their indices.
 */

import { ModelBuilder, type MilpModel, type Term } from '../../../solver/model';
import { hiddenSyncMs, optimizerStepMs } from '../../perf/sync';
import { classTailMs, tailClasses, type TailClass } from './classes';
import type { Pattern, PatternSet } from './patterns';
import type { BoundTerms } from './terms';
import { microbatchMs } from './interference';

export type Formulation = {
  readonly model: MilpModel;
  readonly T: number;
  /** Classes per class module; a module absent here has one implicit class. */
  readonly classes: ReadonlyMap<string, readonly TailClass[]>;
  /** A module with no feasible class: T is infeasible without a solve. */
  readonly impossible?: string;
  readonly nName: (p: number) => string;
  readonly xName: (p: number, slot: number, module: string) => string;
  readonly yName: (module: string, c: number) => string;
  /** Modules each slot of each pattern can host (explicit ones and every implicit one). */
  readonly hosts: (p: Pattern, slot: number) => readonly string[];
};

export function formulate(terms: BoundTerms, set: PatternSet, T: number, maxLambda = 2): Formulation {
  const perf = terms.perf;
  const { model, cluster } = perf;
  const G = terms.gpus;
  const B = perf.microbatches;
  const trainable = new Set(model.modules.filter((m) => m.trainable).map((m) => m.name));
  const nName = (p: number) => `n[p${p}]`;
  const index = new Map(perf.order.map((m, i) => [m, i]));
  const xName = (p: number, s: number, m: string) => `x[p${p},s${s},m${index.get(m)}]`;
  const yName = (m: string, c: number) => `y[${m},c${c}]`;
  const hosts = (p: Pattern, s: number) => [...p.slots[s].explicit.map((i) => set.explicit[i]), ...set.implicit];
  const b = new ModelBuilder('mosaic_bound');

  // Classes for the explicit trainable modules; one class means no choice to make.
  const classes = new Map<string, TailClass[]>();
  for (const m of set.explicit) {
    if (!trainable.has(m)) continue;
    const cs = tailClasses(terms, m, T);
    if (cs.length === 0) {
      return { model: b.build(), T, classes, impossible: `module ${m}: no replica count and span finishes its microbatches and its sync by ${T.toFixed(3)} ms`, nName, xName, yName, hosts };
    }
    classes.set(m, cs);
  }
  // What must follow a replica's last task, on a slot at quota q whose work counts `microbatch` per microbatch.
  const tailOf = (m: string, q: number, microbatch: number, c?: TailClass): number => {
    const mt = terms.modules.get(m)!;
    if (!mt.hasBackward) return mt.afterForwardMs;
    if (!mt.trainable) return mt.drainMs;
    const own = c ? classTailMs(terms, m, c, q, microbatch) : mt.ownTailMinMs(hiddenSyncMs(mt.buckets, microbatch, mt.forwardMin, mt.backwardMin));
    return Math.max(mt.drainMs, own);
  };
  const leastStep = (m: string, q: number, c?: TailClass): number => (trainable.has(m) ? optimizerStepMs(perf, m, c ? c.hi : terms.maxReplicas, q) : 0);
  const window = T - terms.fixedMs;

  // A pattern one of whose explicit replicas cannot finish even one microbatch by T (in any class) must
  // have n = 0: it is left out of this T's model (presolve would drop it; the smaller text parses faster).
  // Microbatches one replica of m can run in slot s of pattern p by T, its interference floor included.
  const capAt = (p: Pattern, s: number, m: string, c?: TailClass) => {
    const mt = terms.modules.get(m)!;
    const level = p.slots[s].level;
    const microbatch = microbatchMs(terms, m, level, p.factors[s]);
    return Math.floor((window - mt.headMs - tailOf(m, terms.levels[level], microbatch, c)) / microbatch + 1e-9);
  };
  const usable = set.patterns.filter((p) =>
    p.slots.every((slot, s) => slot.explicit.every((i) => (classes.get(set.explicit[i]) ?? [undefined]).some((c) => capAt(p, s, set.explicit[i], c) >= 1))),
  );
  const nVar = new Map(usable.map((p) => [p.id, b.addVariable(nName(p.id), { upper: G, integer: true })]));
  const n = (id: number): string => nVar.get(id)!;
  const lambda = b.addVariable('lambda', { lower: 1, upper: maxLambda });
  // (1) at most G GPUs
  b.addRow('gpus', [...nVar.values()].map((variable) => ({ variable, coefficient: 1 })), { upper: G });
  const cover = new Map<string, Term[]>(perf.order.map((m) => [m, []]));
  // Per class module and pattern hosting it: GPUs of the pattern whose module m is in class c.
  const nc = new Map<string, string[]>();
  const ncName = (m: string, p: number, c: number) => `nc[${m},p${p},c${c}]`;
  for (const p of usable) {
    const q = (s: number) => terms.levels[p.slots[s].level];
    const mods = new Set(p.slots.flatMap((s) => s.explicit.map((i) => set.explicit[i])));
    for (const m of mods) {
      const cs = classes.get(m);
      if (!cs || cs.length < 2) continue;
      const vars = cs.map((_, c) => b.addVariable(ncName(m, p.id, c)));
      nc.set(`${m}|${p.id}`, vars);
      // (6) the pattern's GPUs split over m's classes
      b.addRow(`split[${m},p${p.id}]`, [...vars.map((variable) => ({ variable, coefficient: 1 })), { variable: n(p.id), coefficient: -1 }], { lower: 0, upper: 0 });
    }
    // Terms "Σ_c coefficient(c) · nc[m,p,c]", or "coefficient · n[p]" for a module with one class.
    const perClass = (m: string, coefficient: (c?: TailClass) => number): Term[] => {
      const vars = nc.get(`${m}|${p.id}`);
      const cs = classes.get(m);
      if (vars && cs) return vars.map((variable, c) => ({ variable, coefficient: coefficient(cs[c]) }));
      return [{ variable: n(p.id), coefficient: coefficient(cs?.[0]) }];
    };
    p.slots.forEach((slot, s) => {
      const level = slot.level;
      const mods = hosts(p, s);
      const explicitHere = new Set(slot.explicit.map((i) => set.explicit[i]));
      const head = Math.min(...mods.map((m) => terms.modules.get(m)!.headMs));
      const d = (m: string) => microbatchMs(terms, m, level, p.factors[s]);
      const work: Term[] = [];
      for (const m of mods) {
        const x = b.addVariable(xName(p.id, s, m));
        work.push({ variable: x, coefficient: d(m) });
        cover.get(m)!.push({ variable: x, coefficient: 1 });
        const capOf = (c?: TailClass) => Math.max(0, capAt(p, s, m, c));
        // (4) per replica: its start, its microbatches and what must follow its last task fit in T
        // (left out where every class allows B or more per GPU: the row could not bind, so dropping it keeps the relaxation exact)
        const caps = perClass(m, capOf);
        if (caps.some((t) => t.coefficient < B)) b.addRow(`cap[p${p.id},s${s},m${index.get(m)}]`, [{ variable: x, coefficient: 1 }, ...caps.map((t) => ({ ...t, coefficient: -t.coefficient }))], { upper: 0 });
        // (5) an explicit replica runs at least one microbatch
        if (explicitHere.has(m)) b.addRow(`one[p${p.id},s${s},m${index.get(m)}]`, [{ variable: x, coefficient: 1 }, { variable: n(p.id), coefficient: -1 }], { lower: 0 });
      }
      // (3a) per slot: start, all work, then the optimizer steps of its explicit trainable modules
      const steps: Term[] = [...explicitHere].filter((m) => trainable.has(m)).flatMap((m) => perClass(m, (c) => leastStep(m, q(s), c)));
      b.addRow(`slot[p${p.id},s${s}]`, [...work, ...steps, { variable: n(p.id), coefficient: -(window - head) }], { upper: 0 });
      // (3b) per slot: start, all work, then the least tail of whichever module ends it
      const after = Math.min(...mods.map((m) => Math.min(...(classes.get(m) ?? [undefined]).map((c) => tailOf(m, q(s), d(m), c)))));
      b.addRow(`slotTail[p${p.id},s${s}]`, [...work, { variable: n(p.id), coefficient: -(window - head - after) }], { upper: 0 });
    });
  }
  // (2) every module's microbatches are covered (λ ≥ 1 is the bound's question; λ > 1 is slack for decoding)
  for (const m of perf.order) b.addRow(`cover[${m}]`, [...cover.get(m)!, { variable: lambda, coefficient: -B }], { lower: 0 });

  // Replica counts of explicit modules: R_m = Σ_p (slots of p hosting m) · n_p.
  const replicaTerms = (m: string): Term[] => {
    const mi = set.explicit.indexOf(m);
    return usable.flatMap((p) => {
      const mult = p.slots.filter((s) => s.explicit.includes(mi)).length;
      return mult > 0 ? [{ variable: n(p.id), coefficient: mult }] : [];
    });
  };
  const gpuTerms = (m: string): Term[] => {
    const mi = set.explicit.indexOf(m);
    return usable.filter((p) => p.slots.some((s) => s.explicit.includes(mi))).map((p) => ({ variable: n(p.id), coefficient: 1 }));
  };
  for (const [m, cs] of classes) {
    const R = replicaTerms(m);
    if (cs.length === 1) {
      const c = cs[0];
      b.addRow(`rlo[${m}]`, R, { lower: c.lo });
      b.addRow(`rhi[${m}]`, R, { upper: c.hi });
      if (!c.spansNodes) b.addRow(`node[${m}]`, gpuTerms(m), { upper: cluster.gpusPerNode });
      continue;
    }
    const y = cs.map((_, c) => b.addVariable(yName(m, c), { upper: 1, integer: true }));
    // (7) one class per module
    b.addRow(`class[${m}]`, y.map((variable) => ({ variable, coefficient: 1 })), { lower: 1, upper: 1 });
    cs.forEach((_, ci) => {
      const vars = usable.flatMap((p) => (nc.has(`${m}|${p.id}`) ? [nc.get(`${m}|${p.id}`)![ci]] : []));
      // (7) only the chosen class carries GPUs
      b.addRow(`use[${m},c${ci}]`, [...vars.map((variable) => ({ variable, coefficient: 1 })), { variable: y[ci], coefficient: -G }], { upper: 0 });
    });
    // (8) the replica count lies in the chosen class's range
    b.addRow(`rlo[${m}]`, [...R, ...cs.map((c, ci) => ({ variable: y[ci], coefficient: -c.lo }))], { lower: 0 });
    b.addRow(`rhi[${m}]`, [...R, ...cs.map((c, ci) => ({ variable: y[ci], coefficient: -c.hi }))], { upper: 0 });
    // (8) a single-node class keeps the module's GPUs within one node's count
    const single = cs.map((c, ci) => (c.spansNodes ? -1 : ci)).filter((ci) => ci >= 0);
    if (single.length > 0 && cluster.nodes > 1) {
      b.addRow(`node[${m}]`, [...gpuTerms(m), ...single.map((ci) => ({ variable: y[ci], coefficient: G }))], { upper: cluster.gpusPerNode + G });
    }
  }
  // (9) memory tiers: a pattern needing module m to have ≥ k replicas is used only if it has them
  const tierPairs = new Map<string, Set<number>>();
  for (const p of usable) for (const [mi, k] of p.variant.requires) tierPairs.set(set.explicit[mi], (tierPairs.get(set.explicit[mi]) ?? new Set()).add(k));
  for (const [m, ks] of tierPairs) {
    const mi = set.explicit.indexOf(m);
    for (const k of [...ks].sort((a, c) => a - c)) {
      const w = b.addVariable(`w[${m},r${k}]`, { upper: 1, integer: true });
      b.addRow(`tierR[${m},r${k}]`, [...replicaTerms(m), { variable: w, coefficient: -k }], { lower: 0 });
      const users = usable.filter((p) => p.variant.requires.get(mi) === k).map((p) => ({ variable: n(p.id), coefficient: 1 }));
      b.addRow(`tier[${m},r${k}]`, [...users, { variable: w, coefficient: -G }], { upper: 0 });
    }
  }
  b.setObjective('max', [{ variable: lambda, coefficient: 1 }]);
  return { model: b.build(), T, classes, nName, xName, yName, hosts };
}
