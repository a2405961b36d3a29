/** Turns a backend's raw answer into a checked `SolveResult`; shared so both backends judge alike. */

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
};

export function finishWithValues(raw: RawAnswer): SolveResult {
  const violations = findViolations(raw.model, raw.values);
  if (violations.length > 0) {
    return {
      backend: raw.backend,
      status: raw.stoppedByTime ? 'timeLimit' : 'error',
      solveMs: raw.solveMs,
      message: `${raw.backend} returned a solution that violates the model: ${violations.join('; ')}`,
    };
  }
  const values = snapIntegers(raw.model, raw.values);
  const objective = evaluateTerms(raw.model.objective, values);
  if (raw.stoppedByTime) {
    return { backend: raw.backend, status: 'timeLimit', objective, values, solveMs: raw.solveMs, message: 'time limit reached; values are the incumbent' };
  }
  if (raw.provenOptimal) {
    if (raw.gapTolerance > 0) {
      // Optimal within the tolerance: the bound is only known to within it.
      return { backend: raw.backend, status: 'optimal', objective, gap: raw.gapTolerance, values, solveMs: raw.solveMs };
    }
    return { backend: raw.backend, status: 'optimal', objective, bound: objective, gap: 0, values, solveMs: raw.solveMs };
  }
  return { backend: raw.backend, status: 'feasible', objective, values, solveMs: raw.solveMs };
}
