/**
 * HiGHS adapter body (the `highs` package: HiGHS compiled to WebAssembly, MIT); runs inside the
 * solver worker. It uses the persistent Model API and hands HiGHS the model as arrays
 * (`model.passModel`: bounds, costs and the constraint matrix in compressed rows), so column j is the
 * model's variable j. (It read the CPLEX LP text of `toLpText` before: writing, parsing and mapping
 * names back took ~0.5 s of each ~1–3 s trial of the exact search on 2,400 × 2,400 models.)
 *
 * Facts this code relies on (highs 1.15.3, native HiGHS 1.15.1, checked here):
 * - `createModel()` owns native Wasm memory that garbage collection never frees: every model is
 *   disposed in `finally`. (Each solve also runs in a fresh worker, which frees the whole heap.)
 * - `passModel` rejects a row that names a column twice (the same matrix entry); ModelBuilder's
 *   rows never do. `highs.infinity` is IEEE Infinity, so infinite bounds pass as they are.
 * - `run()` returns after a time limit with `getModelStatus()` = `modelStatus.timeLimit`; the
 *   incumbent, if any, is in `getSolution().colValue` (`primal_solution_status` = 2 says there is
 *   one). Every answer is checked by `finishWithValues` all the same.
 * - `info.get('mip_dual_bound')` is HiGHS's proven bound in the model's own sense (≥ every feasible
 *   objective for max, ≤ for min); ±Infinity when none. For a pure LP it is meaningless (0), so an
 *   LP's bound is its objective at optimality. The bound is reported on optimal and timeLimit results.
 * - `mip_rel_gap` (default 1e-4 in HiGHS) is set from `relGap` (default 0 here); `mip_abs_gap`
 *   stays at HiGHS's 1e-6.
 * - MIP start: `setSolution({ indices, values })` takes a sparse, possibly partial assignment.
 *   A complete integral start that is infeasible is simply discarded. A start that leaves integer
 *   columns unassigned (or fractional) makes HiGHS complete it with a sub-MIP (up to
 *   `mip_max_start_nodes` = 500 nodes) that gets the whole `time_limit` to itself, before the main
 *   search gets it again: measured, `run()` took up to 2× `time_limit` (3.0 s for 1.5 s, a
 *   one-entry start on a 4 × 40 packing model). Such a start therefore gets half the budget as
 *   `time_limit`.
 *   Out-of-bounds or non-finite values make `setSolution` throw, so values are clamped to the
 *   variable's bounds (integers rounded) and non-finite ones dropped; should it still throw, the
 *   solve goes on without a start and says so in `message`.
 */

import type { Highs, Model } from 'highs';
import { MilpModel } from '../model';
import { CUTOFF_INFEASIBLE_MESSAGE, usesCutoffRow, withCutoffRow } from './cutoff';
import { finishWithValues } from './finish-result';
import { SolveOptions, SolveResult } from './types';

export type HighsApi = Highs;

let cached: Promise<HighsApi> | undefined;

export function loadHighs(): Promise<HighsApi> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  cached ??= (require('highs') as typeof import('highs').default)();
  return cached;
}

/**
 * The model as HiGHS's arrays: variables are columns in order, rows in compressed sparse rows. A row
 * names each variable once (ModelBuilder merges repeats, as every backend relies on), and an absent
 * row side or an infinite bound is ±Infinity, which is `highs.infinity` in this build.
 */
function modelData(highs: HighsApi, model: MilpModel): Parameters<Model['passModel']>[0] {
  const column = new Map(model.variables.map((v, j) => [v.name, j]));
  const colCost = new Float64Array(model.variables.length);
  for (const t of model.objective) colCost[column.get(t.variable)!] = t.coefficient;
  const starts = [0];
  const indices: number[] = [];
  const values: number[] = [];
  for (const row of model.rows) {
    for (const t of row.terms) {
      indices.push(column.get(t.variable)!);
      values.push(t.coefficient);
    }
    starts.push(indices.length);
  }
  return {
    numCols: model.variables.length,
    numRows: model.rows.length,
    sense: model.sense === 'max' ? highs.constants.objectiveSense.maximize : highs.constants.objectiveSense.minimize,
    colCost,
    colLower: Float64Array.from(model.variables, (v) => v.lower),
    colUpper: Float64Array.from(model.variables, (v) => v.upper),
    rowLower: Float64Array.from(model.rows, (r) => r.lower ?? -Infinity),
    rowUpper: Float64Array.from(model.rows, (r) => r.upper ?? Infinity),
    matrix: { format: 'csr', numRows: model.rows.length, numCols: model.variables.length, starts: Int32Array.from(starts), indices: Int32Array.from(indices), values: Float64Array.from(values) },
    integrality: Int32Array.from(model.variables, (v) => (v.integer ? highs.constants.variableType.integer : highs.constants.variableType.continuous)),
  };
}

/** Creates a HiGHS model of `model`, hands it to `use`, and always disposes it (its Wasm memory is not garbage-collected). */
function withModel<T>(highs: HighsApi, model: MilpModel, use: (hm: Model) => T): T {
  const hm = highs.createModel();
  try {
    hm.passModel(modelData(highs, model));
    return use(hm);
  } finally {
    hm.dispose();
  }
}

function statusName(highs: HighsApi, code: number): string {
  const name = Object.entries(highs.constants.modelStatus).find(([, value]) => value === code)?.[0];
  return name === undefined ? `${code}` : `${name} (${code})`;
}

/** A finite info value, or undefined (unavailable names throw). */
function finiteInfo(model: Model, name: string): number | undefined {
  try {
    const value = Number(model.info.get(name));
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

type SparseStart = { readonly indices: number[]; readonly values: number[]; readonly coversIntegers: boolean };

/**
 * The start as HiGHS column indices (ascending) and values: names not in the model or without a
 * column dropped, non-finite values dropped, values clamped to bounds and integers rounded.
 * `coversIntegers`: every integer variable got a value, so HiGHS needs no sub-MIP to complete it.
 */
function sparseStart(model: MilpModel, column: ReadonlyMap<string, number>, start: ReadonlyMap<string, number>): SparseStart {
  const entries: [number, number][] = [];
  let coversIntegers = true;
  for (const v of model.variables) {
    const given = start.get(v.name);
    const index = column.get(v.name);
    if (given === undefined || !Number.isFinite(given) || index === undefined) {
      if (v.integer) coversIntegers = false;
      continue;
    }
    const [lower, upper] = v.integer ? [Math.ceil(v.lower), Math.floor(v.upper)] : [v.lower, v.upper];
    entries.push([index, Math.min(upper, Math.max(lower, v.integer ? Math.round(given) : given))]);
  }
  entries.sort((a, b) => a[0] - b[0]);
  return { indices: entries.map((e) => e[0]), values: entries.map((e) => e[1]), coversIntegers };
}

/** `budgetMs` is what is left of the caller's time limit when the worker starts solving. */
export function solveWithHighs(highs: HighsApi, original: MilpModel, options: SolveOptions, budgetMs: number): SolveResult {
  const started = Date.now();
  const model = withCutoffRow(original, options);
  const relGap = options.relGap ?? 0;
  const isMip = model.variables.some((v) => v.integer);
  const codes = highs.constants.modelStatus;
  return withModel(highs, model, (hm) => {
    const column = new Map(model.variables.map((v, j) => [v.name, j]));

    const notes: string[] = [];
    // A start HiGHS must complete with a sub-MIP doubles its run time (see header): halve the limit.
    let halveTimeLimit = false;
    if (isMip && options.start !== undefined) {
      const start = sparseStart(model, column, options.start);
      if (start.indices.length > 0) {
        try {
          hm.setSolution({ indices: start.indices, values: start.values });
          halveTimeLimit = !start.coversIntegers;
        } catch (error) {
          notes.push(`MIP start rejected by highs (${error instanceof Error ? error.message : String(error)}); solved without it`);
        }
      }
    }
    // The caller's budget counts from the worker's start; reading the model took some of it.
    const leftMs = budgetMs - (Date.now() - started);
    hm.options.set({ time_limit: Math.max(0.01, (halveTimeLimit ? leftMs / 2 : leftMs) / 1000), mip_rel_gap: relGap, output_flag: false });
    hm.run();
    const status = hm.getModelStatus();
    const solveMs = Date.now() - started;
    const base = { backend: 'highs' as const, solveMs };
    const note = (result: SolveResult): SolveResult =>
      notes.length === 0 ? result : { ...result, message: [result.message, ...notes].filter((m) => m !== undefined).join('; ') };
    const bound = isMip ? finiteInfo(hm, 'mip_dual_bound') : undefined;
    const answer = (stoppedByTime: boolean): SolveResult => {
      const colValue = hm.getSolution().colValue;
      const values = new Map(model.variables.map((v) => {
        const j = column.get(v.name);
        return [v.name, j === undefined ? 0 : (colValue[j] ?? 0)];
      }));
      return finishWithValues({
        // An LP's optimum is exact whatever relGap says (relGap is a MIP setting).
        backend: 'highs', model, values, solveMs, stoppedByTime, provenOptimal: !stoppedByTime, gapTolerance: isMip ? relGap : 0,
        ...(bound !== undefined ? { bound } : {}),
      });
    };
    switch (status) {
      case codes.optimal:
        return note(answer(false));
      case codes.timeLimit:
        if (finiteInfo(hm, 'primal_solution_status') !== highs.constants.solutionStatus.feasible) {
          return note({ ...base, status: 'timeLimit', ...(bound !== undefined ? { bound } : {}), message: 'time limit reached before any integer solution' });
        }
        return note(answer(true));
      case codes.infeasible:
        return note(usesCutoffRow(options) ? { ...base, status: 'infeasible', message: CUTOFF_INFEASIBLE_MESSAGE } : { ...base, status: 'infeasible' });
      case codes.unbounded:
        return { ...base, status: 'error', message: 'unbounded' };
      case codes.unboundedOrInfeasible: {
        // Presolve cannot tell which; the LP relaxation without presolve can (as in the glpk adapter).
        const relaxed = withModel(highs, { ...model, variables: model.variables.map((v) => ({ ...v, integer: false })) }, (lp) => {
          lp.options.set({ presolve: 'off', output_flag: false });
          lp.run();
          return lp.getModelStatus();
        });
        const ms = Date.now() - started;
        if (relaxed === codes.unbounded) return { ...base, solveMs: ms, status: 'error', message: 'unbounded' };
        if (relaxed === codes.infeasible) return note({ ...base, solveMs: ms, status: 'infeasible' });
        return note({ ...base, solveMs: ms, status: 'error', message: `highs returned model status ${statusName(highs, status)} (relaxation: ${statusName(highs, relaxed)})` });
      }
      default:
        return note({ ...base, status: 'error', message: `highs returned model status ${statusName(highs, status)}` });
    }
  });
}
