/**
 * The pattern formulation (README.md in this folder, "Pattern ILP", equations (1)–(5)): choose how many GPUs
 * run each enumerated single-GPU pattern so that the slowest module's total rate θ is as high as possible.
 * GPUs are identical, so counts replace per-GPU decisions and the symmetry of the assignment form is gone.
 */

import { ModelBuilder, type MilpModel, type Term } from '../../../solver/model';
import type { PatternSet } from './patterns';

/** Rates enter the model in microbatches per second (per ms × 1000) so θ is of order 1–1000. */
export const RATE_SCALE = 1000;

/** A count vector to exclude: pattern id → count (absent = 0). */
export type CountVector = ReadonlyMap<number, number>;

export type FormulationInfo = {
  readonly model: MilpModel;
  /** θ's variable name; its value / RATE_SCALE is microbatches per ms. */
  readonly theta: string;
  /** Variables whose values give each pattern's GPU count: pattern id → names to sum. */
  readonly countTerms: (patternId: number) => readonly string[];
  readonly variables: number;
  readonly rows: number;
};

export const nName = (id: number): string => `n[p${id}]`;

/** Upper bound on θ: every GPU running the best pattern for the module that is hardest to cover. */
export function thetaUpper(set: PatternSet, gpus: number): number {
  let upper = Infinity;
  for (const m of set.modules) {
    const best = Math.max(0, ...set.patterns.map((p) => p.rates.get(m) ?? 0));
    upper = Math.min(upper, best * gpus * RATE_SCALE);
  }
  return Number.isFinite(upper) ? upper : 0;
}

/**
 * Adds the memory-tier rows shared by both formulations: for every (module, tier k > 1) that some
 * pattern requires, a binary w[m,k] that may be 1 only if m has at least k replicas (3), and that
 * must be 1 for any GPU to run a pattern requiring it (4).
 */
export function addTierRows(
  b: ModelBuilder,
  set: PatternSet,
  gpus: number,
  hostTerms: (module: string) => Term[],
  requiringTerms: (module: string, tier: number) => Term[],
): void {
  const pairs = new Map<string, Set<number>>();
  for (const p of set.patterns) for (const [m, k] of p.requires) pairs.set(m, (pairs.get(m) ?? new Set()).add(k));
  for (const m of set.modules) {
    for (const k of [...(pairs.get(m) ?? [])].sort((a, c) => a - c)) {
      const w = b.addVariable(`w[${m},r${k}]`, { upper: 1, integer: true });
      // (3) w[m,k] = 1 only if module m has at least k replicas
      b.addRow(`replicas[${m},r${k}]`, [...hostTerms(m), { variable: w, coefficient: -k }], { lower: 0 });
      // (4) a pattern that needs m to have ≥ k replicas is used only if w[m,k] = 1
      b.addRow(`tier[${m},r${k}]`, [...requiringTerms(m, k), { variable: w, coefficient: -gpus }], { upper: 0 });
    }
  }
}

/**
 * (5) no-good cut: the integer vector `counts` (over variables `vars`, each in [0, gpus]) is excluded.
 * n ≠ v ⇔ some n_p ≤ v_p − 1, some n_p ≥ v_p + 1, or some pattern outside v's support is used.
 */
export function addNoGoodCut(b: ModelBuilder, tag: string, vars: readonly { name: string; value: number }[], gpus: number): void {
  const choices: Term[] = [];
  const outside: Term[] = [];
  vars.forEach(({ name, value }, i) => {
    if (value <= 0) {
      outside.push({ variable: name, coefficient: 1 });
      return;
    }
    const lo = b.addVariable(`ng_lo[${tag},${i}]`, { upper: 1, integer: true });
    b.addRow(`ng_lo[${tag},${i}]`, [{ variable: name, coefficient: 1 }, { variable: lo, coefficient: gpus }], { upper: value - 1 + gpus });
    choices.push({ variable: lo, coefficient: 1 });
    if (value < gpus) {
      const hi = b.addVariable(`ng_hi[${tag},${i}]`, { upper: 1, integer: true });
      b.addRow(`ng_hi[${tag},${i}]`, [{ variable: name, coefficient: 1 }, { variable: hi, coefficient: -(value + 1) }], { lower: 0 });
      choices.push({ variable: hi, coefficient: 1 });
    }
  });
  if (outside.length > 0) {
    const out = b.addVariable(`ng_out[${tag}]`, { upper: 1, integer: true });
    b.addRow(`ng_out[${tag}]`, [...outside, { variable: out, coefficient: -1 }], { lower: 0 });
    choices.push({ variable: out, coefficient: 1 });
  }
  b.addRow(`nogood[${tag}]`, choices, { lower: 1 });
}

/**
 * Builds the pattern ILP: integer n[p] ≥ 0, continuous θ;
 * (1) Σ_p n[p] ≤ G; (2) Σ_p rate(m,p)·n[p] ≥ θ for every module; (3)–(4) memory tiers; (5) no-good
 * cuts; maximise θ. Per-node rows (patterns confined to a node) would be needed only for tensor
 * parallelism, which the specs do not have yet.
 */
export function buildPatternIlp(set: PatternSet, gpus: number, exclude: readonly CountVector[] = [], name = 'mosaic_patterns'): FormulationInfo {
  const b = new ModelBuilder(name);
  const n = set.patterns.map((p) => b.addVariable(nName(p.id), { upper: gpus, integer: true }));
  const theta = b.addVariable('theta', { upper: thetaUpper(set, gpus) });
  // (1) at most G GPUs in all
  b.addRow('gpus[cluster]', n.map((variable) => ({ variable, coefficient: 1 })), { upper: gpus });
  // (2) every module's rate covers θ
  for (const m of set.modules) {
    const terms: Term[] = set.patterns.filter((p) => p.rates.has(m)).map((p) => ({ variable: n[p.id], coefficient: p.rates.get(m)! * RATE_SCALE }));
    b.addRow(`cover[${m}]`, [...terms, { variable: theta, coefficient: -1 }], { lower: 0 });
  }
  addTierRows(
    b,
    set,
    gpus,
    (m) => set.patterns.filter((p) => p.rates.has(m)).map((p) => ({ variable: n[p.id], coefficient: 1 })),
    (m, k) => set.patterns.filter((p) => p.requires.get(m) === k).map((p) => ({ variable: n[p.id], coefficient: 1 })),
  );
  exclude.forEach((v, c) => {
    // (5) exclude a count vector already found
    addNoGoodCut(b, `c${c}`, set.patterns.map((p) => ({ name: n[p.id], value: v.get(p.id) ?? 0 })), gpus);
  });
  b.setObjective('max', [{ variable: theta, coefficient: 1 }]);
  const model = b.build();
  return { model, theta, countTerms: (id) => [n[id]], variables: model.variables.length, rows: model.rows.length };
}
