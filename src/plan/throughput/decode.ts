/**
 * From a solver answer back to the planner's shapes: pattern counts → `Layout` → scored, validated Plan.
 */

import type { PerfModel } from '../../perf/perf-model';
import type { Layout } from '../layout';
import { toPlan, type ScoredLayout } from '../make-plan';
import type { Plan, SolverRecord } from '../../spec/plan';
import type { Profile } from '../../spec/types';
import type { SolveResult } from '../../../solver/backends';
import { RATE_SCALE, type CountVector, type FormulationInfo } from './pattern-ilp';
import type { PatternSet } from './patterns';

/** Pattern id → GPU count from a solution's values (rounded; values are checked integral by the backend). */
export function decodeCounts(set: PatternSet, info: FormulationInfo, values: ReadonlyMap<string, number>): Map<number, number> {
  const counts = new Map<number, number>();
  for (const p of set.patterns) {
    const n = Math.round(info.countTerms(p.id).reduce((s, v) => s + (values.get(v) ?? 0), 0));
    if (n > 0) counts.set(p.id, n);
  }
  return counts;
}

/** The layout of a count vector: the patterns used, with their counts, in pattern order. */
export function countsToLayout(set: PatternSet, counts: CountVector): Layout {
  return [...counts].filter(([, n]) => n > 0).sort((a, b) => a[0] - b[0]).map(([id, count]) => ({ pattern: set.patterns[id].pattern, count }));
}

/** θ (microbatches per ms) of a count vector under the linear model: the slowest module's total rate. */
export function countsTheta(set: PatternSet, counts: CountVector): number {
  let theta = Infinity;
  for (const m of set.modules) {
    let r = 0;
    for (const [id, n] of counts) r += n * (set.patterns[id].rates.get(m) ?? 0);
    theta = Math.min(theta, r);
  }
  return Number.isFinite(theta) ? theta : 0;
}

/** Linear iteration time of a θ (microbatches per ms): microbatches / θ. */
export const linearMs = (microbatches: number, thetaPerMs: number): number => (thetaPerMs > 0 ? microbatches / thetaPerMs : Infinity);

/**
 * The plan's solver record. `objective` and `bound` are stated as linear iteration times in ms
 * (microbatches / θ), the unit the plan's prediction uses; the simulated figure is the prediction.
 */
export function solverRecord(result: SolveResult, microbatches: number, status = result.status): SolverRecord {
  const toMs = (scaledTheta: number | undefined) => (scaledTheta !== undefined && scaledTheta > 0 ? linearMs(microbatches, scaledTheta / RATE_SCALE) : undefined);
  const objective = toMs(result.objective);
  const bound = toMs(result.bound);
  return {
    backend: result.backend,
    status,
    ...(objective !== undefined ? { objective } : {}),
    ...(bound !== undefined ? { bound } : {}),
    ...(result.gap !== undefined ? { gap: result.gap } : {}),
    solveMs: result.solveMs,
  };
}

/** A validated Plan for a scored ILP layout. */
export function ilpPlan(perf: PerfModel, scored: ScoredLayout, solver: SolverRecord, profile?: Profile): Plan {
  return toPlan(perf, scored, 'ilp', profile, solver);
}
