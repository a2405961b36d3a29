/** The one adapter interface every solver backend implements. Outcomes are values, never exceptions. */

import { MilpModel } from '../model';

export type BackendName = 'highs' | 'glpk' | 'jslp';

export const BACKEND_NAMES: readonly BackendName[] = ['highs', 'glpk', 'jslp'];

export type SolveStatus = 'optimal' | 'feasible' | 'infeasible' | 'timeLimit' | 'error';

export type SolveOptions = {
  /** Wall-clock budget for the solve; the worker is killed at this deadline plus a grace period. */
  readonly timeLimitMs: number;
  /**
   * Objective value any solution must beat or match (a heuristic's), used as a cutoff where the
   * backend supports it. Neither glpk.js nor javascript-lp-solver has a native cutoff; see `cutoffAsRow`.
   */
  readonly cutoff?: number;
  /**
   * Opt-in: add the cutoff as an explicit row `objective >= cutoff` (max) / `<= cutoff` (min).
   * This can make the model infeasible when no solution reaches the cutoff; that case returns
   * status 'infeasible' with message 'no solution beats the cutoff'. Default false: cutoff ignored.
   */
  readonly cutoffAsRow?: boolean;
  /**
   * Relative MIP gap at which the solver may stop (glpk `mipgap`, jslp `tolerance`); default 0.
   * Status 'optimal' then means optimal within this gap (the usual MIP convention; `gap` says which).
   */
  readonly relGap?: number;
};

export type SolveResult = {
  readonly backend: BackendName;
  readonly status: SolveStatus;
  /** Objective of the returned values, recomputed from the model (not the solver's own figure). */
  readonly objective?: number;
  /** Best proven bound; neither glpk.js nor javascript-lp-solver exposes one except at optimality. */
  readonly bound?: number;
  readonly gap?: number;
  /** Values by model variable name; present for 'optimal' and 'feasible' (and 'timeLimit' with an incumbent). */
  readonly values?: ReadonlyMap<string, number>;
  /** Wall time seen by the caller, worker start-up and WebAssembly load included (~40–60 ms). */
  readonly solveMs: number;
  readonly message?: string;
};

export interface SolverBackend {
  readonly name: BackendName;
  solve(model: MilpModel, options: SolveOptions): Promise<SolveResult>;
}
