/**
 * The assignment formulation (README.md in this folder, "Assignment ILP", equations (A1)–(A5)), for cross-checking
 * the pattern form on small cases. Every GPU g decides on its own what it holds: binary y[g,p] = 1 when
 * GPU g runs pattern p's slots, and x[m,g,q] = 1 when module m runs on GPU g at quota level q (linked to
 * y). It uses the same linear rate model, so its optimum θ must equal the pattern form's; it keeps the
 * symmetry of identical GPUs, broken by ordering GPUs by pattern index, and grows with G·P.
 *
 * Why not x[m,g,q] alone: a slot's rate depends on the modules it time-shares with and, through
 * interference, on every other slot of its GPU, so rate is not a linear function of x. The per-GPU
 * choice among slot sets (y) is the smallest linear form of the same model.
 */

import { ModelBuilder, type Term } from '../../../solver/model';
import { addNoGoodCut, addTierRows, RATE_SCALE, thetaUpper, type CountVector, type FormulationInfo } from './pattern-ilp';
import type { PatternSet } from './patterns';

export const yName = (g: number, id: number): string => `y[g${g},p${id}]`;

export function buildAssignmentIlp(set: PatternSet, gpus: number, exclude: readonly CountVector[] = [], name = 'mosaic_assignment'): FormulationInfo {
  const b = new ModelBuilder(name);
  const G = Array.from({ length: gpus }, (_, g) => g);
  const y = G.map((g) => set.patterns.map((p) => b.addVariable(yName(g, p.id), { upper: 1, integer: true })));
  const theta = b.addVariable('theta', { upper: thetaUpper(set, gpus) });
  const levelIndex = (q: number) => set.levels.findIndex((l) => Math.abs(l - q) < 1e-9);
  for (const g of G) {
    // (A1) each GPU runs at most one slot set
    b.addRow(`one[g${g}]`, y[g].map((variable) => ({ variable, coefficient: 1 })), { upper: 1 });
    // (A2) x[m,g,q] = Σ of y[g,p] over patterns that run m at level q on the GPU
    for (const m of set.modules) {
      const byLevel = new Map<number, Term[]>();
      for (const p of set.patterns) {
        const slot = p.pattern.find((s) => s.modules.includes(m));
        if (!slot) continue;
        const q = levelIndex(slot.quotaFraction);
        byLevel.set(q, [...(byLevel.get(q) ?? []), { variable: y[g][p.id], coefficient: 1 }]);
      }
      for (const [q, terms] of [...byLevel].sort((a, c) => a[0] - c[0])) {
        const x = b.addVariable(`x[${m},g${g},q${q}]`, { upper: 1, integer: true });
        b.addRow(`link[${m},g${g},q${q}]`, [...terms, { variable: x, coefficient: -1 }], { lower: 0, upper: 0 });
      }
    }
    // (A4) symmetry breaking: GPUs in non-increasing pattern index (an empty GPU counts 0)
    if (g + 1 < gpus) {
      b.addRow(
        `order[g${g}]`,
        [...y[g].map((variable, i) => ({ variable, coefficient: i + 1 })), ...y[g + 1].map((variable, i) => ({ variable, coefficient: -(i + 1) }))],
        { lower: 0 },
      );
    }
  }
  // (A3) every module's rate covers θ
  for (const m of set.modules) {
    const terms: Term[] = [];
    for (const g of G) for (const p of set.patterns) if (p.rates.has(m)) terms.push({ variable: y[g][p.id], coefficient: p.rates.get(m)! * RATE_SCALE });
    b.addRow(`cover[${m}]`, [...terms, { variable: theta, coefficient: -1 }], { lower: 0 });
  }
  // (A5) memory tiers, as (3)–(4) with n[p] = Σ_g y[g,p]
  const sumOver = (pred: (id: number) => boolean): Term[] => G.flatMap((g) => set.patterns.filter((p) => pred(p.id)).map((p) => ({ variable: y[g][p.id], coefficient: 1 })));
  addTierRows(
    b,
    set,
    gpus,
    (m) => sumOver((id) => set.patterns[id].rates.has(m)),
    (m, k) => sumOver((id) => set.patterns[id].requires.get(m) === k),
  );
  exclude.forEach((v, c) => {
    // (5) no-good cut on the aggregated counts n[p] = Σ_g y[g,p]
    const counts = set.patterns.map((p) => {
      const v2 = b.addVariable(`nsum[c${c},p${p.id}]`, { upper: gpus, integer: true });
      b.addRow(`nsum[c${c},p${p.id}]`, [...G.map((g) => ({ variable: y[g][p.id], coefficient: 1 })), { variable: v2, coefficient: -1 }], { lower: 0, upper: 0 });
      return { name: v2, value: v.get(p.id) ?? 0 };
    });
    addNoGoodCut(b, `c${c}`, counts, gpus);
  });
  b.setObjective('max', [{ variable: theta, coefficient: 1 }]);
  const model = b.build();
  return { model, theta, countTerms: (id) => G.map((g) => y[g][id]), variables: model.variables.length, rows: model.rows.length };
}
