/**
 * Independent check of a solver's answer against the model: bounds, integrality and every row.
 * javascript-lp-solver has returned a fractional answer flagged `feasible: true`, so no backend's
 * word is taken on trust.
 */

import { MilpModel, evaluateTerms } from '../model';

/** Absolute tolerance, scaled by max(1, |bound|) for bounds and rows so large right-hand sides are not over-strict. */
export const CHECK_TOLERANCE = 1e-6;

const within = (limit: number): number => CHECK_TOLERANCE * Math.max(1, Math.abs(limit));

/** Human-readable violations, at most `limit` of them; empty when the values satisfy the model. */
export function findViolations(model: MilpModel, values: ReadonlyMap<string, number>, limit = 5): string[] {
  const problems: string[] = [];
  const note = (text: string): boolean => {
    problems.push(text);
    return problems.length >= limit;
  };
  for (const v of model.variables) {
    const x = values.get(v.name) ?? 0;
    if (!Number.isFinite(x) && note(`${v.name} = ${x} is not finite`)) return problems;
    if (x < v.lower - within(v.lower) && note(`${v.name} = ${x} < lower ${v.lower}`)) return problems;
    if (x > v.upper + within(v.upper) && note(`${v.name} = ${x} > upper ${v.upper}`)) return problems;
    if (v.integer && Math.abs(x - Math.round(x)) > CHECK_TOLERANCE && note(`${v.name} = ${x} is not integral`)) return problems;
  }
  for (const row of model.rows) {
    const activity = evaluateTerms(row.terms, values);
    if (row.lower !== undefined && activity < row.lower - within(row.lower) && note(`row ${row.name} = ${activity} < ${row.lower}`)) return problems;
    if (row.upper !== undefined && activity > row.upper + within(row.upper) && note(`row ${row.name} = ${activity} > ${row.upper}`)) return problems;
  }
  return problems;
}

/** Integer variables snapped to the nearest integer (after `findViolations` accepted them). */
export function snapIntegers(model: MilpModel, values: ReadonlyMap<string, number>): Map<string, number> {
  const snapped = new Map<string, number>();
  for (const v of model.variables) {
    const x = values.get(v.name) ?? 0;
    snapped.set(v.name, v.integer ? Math.round(x) : x);
  }
  return snapped;
}
