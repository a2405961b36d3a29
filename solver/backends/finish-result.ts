/** Turns a backend's raw answer into a checked `SolveResult`; shared so all backends judge alike. */

import { MilpModel, evaluateTerms } from '../model';
import { findViolations, snapIntegers } from './check-solution';
import { BackendName, SolveResult } from './types';

export type RawAnswer = {
  readonly backend: BackendName;
  /** The model the solver saw (cutoff row included), in model names. */
  readonly model: MilpModel;
  readonly values: ReadonlyMap<string, number>;
  /** The solver stopped on its clock rather than by finishing. */
  readonly stoppedByTime: boolean;
  /** The solver claims optimality within `gapTolerance`. */
  readonly provenOptimal: boolean;
  /** The relative gap the solver was allowed to stop at (0: exact). */
  readonly gapTolerance: number;
  readonly solveMs: number;
  /**
   * The solver's own proven bound, in the model's sense (≥ every feasible objective for max, ≤ for
   * min), where it has one (HiGHS's MIP dual bound). Without it only an exact optimum gets a bound.
   */
  readonly bound?: number;
};

/** Relative gap between an objective and a bound: |objective − bound| / max(1, |objective|). */
export function relativeGap(objective: number, bound: number): number {
  return Math.abs(objective - bound) / Math.max(1, Math.abs(objective));
}

export function finishWithValues(raw: RawAnswer): SolveResult {
  const solverBound = raw.bound !== undefined && Number.isFinite(raw.bound) ? raw.bound : undefined;
  const violations = findViolations(raw.model, raw.values);
  if (violations.length > 0) {
    return {
      backend: raw.backend,
      status: raw.stoppedByTime ? 'timeLimit' : 'error',
      // A bound does not depend on the incumbent, so a timed-out search still reports it.
      ...(raw.stoppedByTime && solverBound !== undefined ? { bound: solverBound } : {}),
      solveMs: raw.solveMs,
      message: `${raw.backend} returned a solution that violates the model: ${violations.join('; ')}`,
    };
  }
  const values = snapIntegers(raw.model, raw.values);
  const objective = evaluateTerms(raw.model.objective, values);
  // The objective is recomputed from snapped values, so it can pass the solver's bound by a rounding
  // error; a checked solution's objective is itself a valid bound on the other side, so clamp.
  const bound = solverBound === undefined ? undefined : raw.model.sense === 'max' ? Math.max(solverBound, objective) : Math.min(solverBound, objective);
  const withBound = bound === undefined ? {} : { bound, gap: relativeGap(objective, bound) };
  if (raw.stoppedByTime) {
    return { backend: raw.backend, status: 'timeLimit', objective, ...withBound, values, solveMs: raw.solveMs, message: 'time limit reached; the values are the best solution found so far' };
  }
  if (raw.provenOptimal) {
    if (bound !== undefined) return { backend: raw.backend, status: 'optimal', objective, ...withBound, values, solveMs: raw.solveMs };
    if (raw.gapTolerance > 0) {
      // Optimal within the tolerance: the bound is only known to within it.
      return { backend: raw.backend, status: 'optimal', objective, gap: raw.gapTolerance, values, solveMs: raw.solveMs };
    }
    return { backend: raw.backend, status: 'optimal', objective, bound: objective, gap: 0, values, solveMs: raw.solveMs };
  }
  return { backend: raw.backend, status: 'feasible', objective, ...withBound, values, solveMs: raw.solveMs };
}
