/**
 * Objective cutoff as an explicit row, for backends without a native cutoff (glpk.js,
 * javascript-lp-solver). Opt-in through `SolveOptions.cutoffAsRow`: the row makes the model
 * infeasible when no solution reaches the cutoff, which callers must read as "nothing beats the
 * heuristic", not as "the problem is infeasible".
 */

import { MilpModel } from '../model';
import { SolveOptions } from './types';

/** Not a legal model name (model names start with a letter or `_`), so it cannot collide. */
export const CUTOFF_ROW_NAME = '~cutoff';

export const CUTOFF_INFEASIBLE_MESSAGE = 'no solution beats the cutoff';

export function withCutoffRow(model: MilpModel, options: SolveOptions): MilpModel {
  if (!options.cutoffAsRow || options.cutoff === undefined || !Number.isFinite(options.cutoff)) return model;
  const side = model.sense === 'max' ? { lower: options.cutoff } : { upper: options.cutoff };
  return { ...model, rows: [...model.rows, { name: CUTOFF_ROW_NAME, terms: model.objective, ...side }] };
}

export function usesCutoffRow(options: SolveOptions): boolean {
  return options.cutoffAsRow === true && options.cutoff !== undefined && Number.isFinite(options.cutoff);
}
