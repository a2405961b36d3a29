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
  /**
   * MIP start ("warm start"): a possibly partial assignment of model variable names to values,
   * handed to the solver as a starting incumbent. Only `highs` uses it; glpk.js and
   * javascript-lp-solver have no MIP start and ignore it, as does HiGHS for a model without
   * integer variables. It is only a hint: HiGHS discards an infeasible start, completes a partial
   * one, and the answer is checked like every other (it can even be worse than the start when the
   * clock stops HiGHS first). Unknown names and non-finite values are dropped, values are clamped
   * to the variable's bounds and integers rounded. A start that leaves integer variables unassigned
   * halves HiGHS's `time_limit` (its completion sub-MIP gets a `time_limit` of its own).
   */
  readonly start?: ReadonlyMap<string, number>;
};

export type SolveResult = {
  readonly backend: BackendName;
  readonly status: SolveStatus;
  /** Objective of the returned values, recomputed from the model (not the solver's own figure). */
  readonly objective?: number;
  /**
   * Best proven bound on the optimum, in the model's sense (≥ `objective` for max, ≤ for min).
   * HiGHS reports its MIP dual bound on 'optimal' and 'timeLimit' results (with or without an
   * incumbent) when it has a finite one; for an LP it is the objective at optimality. Neither
   * glpk.js nor javascript-lp-solver exposes one, so for them it is set only at exact optimality
   * (`relGap` 0), equal to `objective`.
   */
  readonly bound?: number;
  /**
   * Relative gap |objective − bound| / max(1, |objective|) when both are known; for an 'optimal'
   * result without a bound (glpk/jslp with `relGap` > 0) the tolerance it was proven within.
   */
  readonly gap?: number;
  /** Values by model variable name; present for 'optimal' and 'feasible' (and 'timeLimit' with an incumbent). */
  readonly values?: ReadonlyMap<string, number>;
  /** Wall time seen by the caller, worker start-up and WebAssembly load included (`startupMs`). */
  readonly solveMs: number;
  /**
   * Part of `solveMs` spent before solving: worker start-up plus WebAssembly load (none for jslp),
   * measured by the worker wrapper from the start of `solve` until the solver is loaded. Subtract
   * it to size the next solve's budget. Absent when no worker got that far (not found, crashed
   * while loading, or killed before it loaded).
   */
  readonly startupMs?: number;
  readonly message?: string;
};

export interface SolverBackend {
  readonly name: BackendName;
  solve(model: MilpModel, options: SolveOptions): Promise<SolveResult>;
}
