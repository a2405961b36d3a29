/**
 * javascript-lp-solver adapter body; runs inside the solver worker.
 *
 * Facts this code relies on (DESIGN §4, checked against javascript-lp-solver 1.0.3 sources):
 * - No status field: only `feasible`, `bounded`, `isIntegral` flags and `result`. Zero values are
 *   omitted from the result object, and variable values share that object with the flags.
 * - `timeout` (ms) is checked only between branch-and-bound nodes and phase 1 of its simplex can
 *   loop, so the parent must also kill the worker. On timeout it silently returns the incumbent
 *   (flagged like an optimum) or the last node's relaxation; the elapsed time decides which.
 * - It has returned fractional answers flagged `feasible: true`, so every answer is checked.
 * - A MIP with an unbounded relaxation branches forever (never reports `bounded: false`), so the
 *   LP relaxation is solved first.
 * - `unrestricted` combined with `ints` returned `feasible: false` for a feasible model, so free
 *   variables are split instead (free integer variables then make B&B slow: bound them).
 * - Every variable is ≥ 0 and upper bounds must be rows, so model variables are rewritten:
 *   x = lower + y (finite lower), x = upper − y (only a finite upper), x = y⁺ − y⁻ (free),
 *   with `y ≤ upper − lower` as a row `b<i>`.
 * Names are mapped to `y<i>` (columns), `r<i>`/`b<i>` (rows) and `obj`, so a model name can never
 * collide with the result flags (`feasible`, `result`, ...) or with a row attribute.
 */

import solver from 'javascript-lp-solver';
import { MilpModel } from '../model';
import { CUTOFF_INFEASIBLE_MESSAGE, usesCutoffRow, withCutoffRow } from './cutoff';
import { finishWithValues } from './finish-result';
import { SolveOptions, SolveResult } from './types';

type Bound = { min?: number; max?: number; equal?: number };
type JslpModel = {
  optimize: string;
  opType: 'max' | 'min';
  constraints: Record<string, Bound>;
  variables: Record<string, Record<string, number>>;
  ints: Record<string, 1>;
  timeout?: number;
  tolerance?: number;
};

/** x = offset + Σ factor · y. */
type Substitution = { readonly offset: number; readonly parts: readonly { readonly id: string; readonly factor: number }[] };

type Translation = { readonly jslp: JslpModel; readonly substitutions: ReadonlyMap<string, Substitution>; readonly emptyRowInfeasible: boolean };

function rowBound(lower: number | undefined, upper: number | undefined, shift: number): Bound {
  const lo = lower === undefined ? undefined : lower - shift;
  const up = upper === undefined ? undefined : upper - shift;
  if (lo !== undefined && up !== undefined && lo === up) return { equal: lo };
  return { ...(lo !== undefined ? { min: lo } : {}), ...(up !== undefined ? { max: up } : {}) };
}

export function toJslpModel(model: MilpModel): Translation {
  const variables: Record<string, Record<string, number>> = {};
  const constraints: Record<string, Bound> = {};
  const ints: Record<string, 1> = {};
  const substitutions = new Map<string, Substitution>();
  let next = 0;
  const column = (integer: boolean): string => {
    const id = `y${next++}`;
    variables[id] = {};
    if (integer) ints[id] = 1;
    return id;
  };
  model.variables.forEach((v, i) => {
    // Integer bounds are tightened first so the shift keeps y integral.
    const lower = v.integer && Number.isFinite(v.lower) ? Math.ceil(v.lower - 1e-9) : v.lower;
    const upper = v.integer && Number.isFinite(v.upper) ? Math.floor(v.upper + 1e-9) : v.upper;
    if (Number.isFinite(lower)) {
      const y = column(v.integer);
      substitutions.set(v.name, { offset: lower, parts: [{ id: y, factor: 1 }] });
      if (Number.isFinite(upper)) {
        constraints[`b${i}`] = { max: upper - lower };
        (variables[y] as Record<string, number>)[`b${i}`] = 1;
      }
    } else if (Number.isFinite(upper)) {
      substitutions.set(v.name, { offset: upper, parts: [{ id: column(v.integer), factor: -1 }] });
    } else {
      const plus = column(v.integer);
      const minus = column(v.integer);
      substitutions.set(v.name, { offset: 0, parts: [{ id: plus, factor: 1 }, { id: minus, factor: -1 }] });
    }
  });
  const addTerms = (attribute: string, terms: MilpModel['objective']): number => {
    let shift = 0;
    for (const { variable, coefficient } of terms) {
      const s = substitutions.get(variable) as Substitution;
      shift += coefficient * s.offset;
      for (const { id, factor } of s.parts) {
        const attrs = variables[id] as Record<string, number>;
        attrs[attribute] = (attrs[attribute] ?? 0) + coefficient * factor;
      }
    }
    return shift;
  };
  addTerms('obj', model.objective);
  let emptyRowInfeasible = false;
  model.rows.forEach((row, i) => {
    if (row.terms.length === 0) {
      // jslp ignores a row nobody references; judge it here: 0 must lie within its bounds.
      if ((row.lower !== undefined && row.lower > 0) || (row.upper !== undefined && row.upper < 0)) emptyRowInfeasible = true;
      return;
    }
    const shift = addTerms(`r${i}`, row.terms);
    constraints[`r${i}`] = rowBound(row.lower, row.upper, shift);
  });
  return { jslp: { optimize: 'obj', opType: model.sense, constraints, variables, ints }, substitutions, emptyRowInfeasible };
}

function valuesFrom(substitutions: ReadonlyMap<string, Substitution>, answer: Record<string, unknown>): Map<string, number> {
  const values = new Map<string, number>();
  for (const [name, s] of substitutions) {
    let x = s.offset;
    for (const { id, factor } of s.parts) {
      const y = answer[id];
      x += factor * (typeof y === 'number' ? y : 0);
    }
    values.set(name, x);
  }
  return values;
}

export function solveWithJslp(original: MilpModel, options: SolveOptions, budgetMs: number): SolveResult {
  const started = Date.now();
  const model = withCutoffRow(original, options);
  const { jslp, substitutions, emptyRowInfeasible } = toJslpModel(model);
  const infeasible = (solveMs: number): SolveResult =>
    usesCutoffRow(options)
      ? { backend: 'jslp', status: 'infeasible', solveMs, message: CUTOFF_INFEASIBLE_MESSAGE }
      : { backend: 'jslp', status: 'infeasible', solveMs };
  if (emptyRowInfeasible) return infeasible(0);
  const isMip = Object.keys(jslp.ints).length > 0;
  if (isMip) {
    // Branch and bound on an unbounded relaxation never ends (it walks off to larger and larger
    // incumbents), so the LP relaxation is solved first: one extra simplex, and it also settles
    // most infeasible models without branching.
    const relaxed = solver.Solve({ ...jslp, ints: {} } as never) as Record<string, unknown>;
    if (relaxed.bounded === false) return { backend: 'jslp', status: 'error', solveMs: Date.now() - started, message: 'unbounded' };
    if (relaxed.feasible !== true) return infeasible(Date.now() - started);
  }
  jslp.timeout = Math.max(1, Math.floor(budgetMs - (Date.now() - started)));
  if (options.relGap !== undefined && options.relGap > 0) jslp.tolerance = options.relGap;
  const answer = solver.Solve(jslp as never) as Record<string, unknown>;
  const solveMs = Date.now() - started;
  const outOfTime = solveMs >= 0.95 * budgetMs;

  if (answer.bounded === false) return { backend: 'jslp', status: 'error', solveMs, message: 'unbounded' };
  if (answer.feasible !== true) {
    return outOfTime
      ? { backend: 'jslp', status: 'timeLimit', solveMs, message: 'time limit reached before any integer solution' }
      : infeasible(solveMs);
  }
  if (isMip && answer.isIntegral !== true && outOfTime) {
    // The timeout left the tableau on some node's relaxation: there is no incumbent.
    return { backend: 'jslp', status: 'timeLimit', solveMs, message: 'time limit reached before any integer solution' };
  }
  return finishWithValues({
    backend: 'jslp', model, values: valuesFrom(substitutions, answer), solveMs,
    stoppedByTime: outOfTime,
    provenOptimal: true,
    gapTolerance: options.relGap ?? 0,
  });
}
