/**
 * HiGHS adapter body (the `highs` package: HiGHS compiled to WebAssembly, MIT); runs inside the
 * solver worker. HiGHS reads the CPLEX LP text of `toLpText`, so names go through `lpName` and back.
 *
 * Facts this code relies on (highs 1.15, checked here):
 * - `solve(lpText, options)` returns `{Status, ObjectiveValue, Columns: {name: {Primal, ...}}}`;
 *   Status is a string: 'Optimal', 'Time limit reached', 'Infeasible', 'Primal infeasible or
 *   unbounded', 'Unbounded', ...
 * - On 'Time limit reached' the columns hold the incumbent, if any (checked like every answer).
 * - `mip_rel_gap` (default 1e-4 in HiGHS) is set from `relGap` (default 0 here).
 * - Each solve runs in a fresh worker, so the WebAssembly heap is freed with the worker.
 */

import { lpName, toLpText } from '../lp-format';
import { MilpModel } from '../model';
import { CUTOFF_INFEASIBLE_MESSAGE, usesCutoffRow, withCutoffRow } from './cutoff';
import { finishWithValues } from './finish-result';
import { SolveOptions, SolveResult } from './types';

type HighsColumn = { readonly Primal?: number };
type HighsSolution = { readonly Status: string; readonly ObjectiveValue?: number; readonly Columns?: Readonly<Record<string, HighsColumn>> };
export type HighsApi = { solve(lpText: string, options: Record<string, number | string | boolean>): HighsSolution };

let cached: Promise<HighsApi> | undefined;

export function loadHighs(): Promise<HighsApi> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  cached ??= (require('highs') as () => Promise<HighsApi>)();
  return cached;
}

/** `budgetMs` is what is left of the caller's time limit when the worker starts solving. */
export function solveWithHighs(highs: HighsApi, original: MilpModel, options: SolveOptions, budgetMs: number): SolveResult {
  const started = Date.now();
  const model = withCutoffRow(original, options);
  const relGap = options.relGap ?? 0;
  const out = highs.solve(toLpText(model), { time_limit: Math.max(0.01, budgetMs / 1000), mip_rel_gap: relGap, output_flag: false });
  const solveMs = Date.now() - started;
  const base = { backend: 'highs' as const, solveMs };
  const columns = out.Columns ?? {};
  const values = new Map(model.variables.map((v) => [v.name, columns[lpName(v.name)]?.Primal ?? 0]));
  const hasColumns = Object.keys(columns).length > 0;
  switch (out.Status) {
    case 'Optimal':
      return finishWithValues({ backend: 'highs', model, values, solveMs, stoppedByTime: false, provenOptimal: true, gapTolerance: relGap });
    case 'Time limit reached':
      if (!hasColumns || out.ObjectiveValue === undefined || !Number.isFinite(out.ObjectiveValue)) {
        return { ...base, status: 'timeLimit', message: 'time limit reached before any integer solution' };
      }
      return finishWithValues({ backend: 'highs', model, values, solveMs, stoppedByTime: true, provenOptimal: false, gapTolerance: relGap });
    case 'Infeasible':
      return usesCutoffRow(options) ? { ...base, status: 'infeasible', message: CUTOFF_INFEASIBLE_MESSAGE } : { ...base, status: 'infeasible' };
    case 'Unbounded':
      return { ...base, status: 'error', message: 'unbounded' };
    case 'Primal infeasible or unbounded': {
      // Presolve cannot tell which; the LP relaxation without presolve can (as in the glpk adapter).
      const relaxed = highs.solve(toLpText({ ...model, variables: model.variables.map((v) => ({ ...v, integer: false })) }), { presolve: 'off', output_flag: false });
      const ms = Date.now() - started;
      if (relaxed.Status === 'Unbounded') return { ...base, solveMs: ms, status: 'error', message: 'unbounded' };
      if (relaxed.Status === 'Infeasible') return { ...base, solveMs: ms, status: 'infeasible' };
      return { ...base, solveMs: ms, status: 'error', message: `highs returned status "${out.Status}" (relaxation: "${relaxed.Status}")` };
    }
    default:
      return { ...base, status: 'error', message: `highs returned status "${out.Status}"` };
  }
}
