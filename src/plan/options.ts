import type { SolverName } from '../spec/types';

/** Most slots (execution contexts) per GPU in the plan space the planners search and bound. */
export const DEFAULT_MAX_SLOTS = 4;

export type Method = 'heuristic' | 'baseline' | 'ilp' | 'all';
export const SOLVER_NAMES: readonly SolverName[] = ['highs', 'glpk', 'jslp'];

/** All planner options; merged once with DEFAULT_OPTIONS at the entry point. */
export type PlanOptions = {
  readonly method: Method;
  readonly solver: SolverName;
  readonly timeLimitSeconds: number;
  /** Heuristic candidates simulated in full before choosing. */
  readonly finalists: number;
  /** Also return the pattern ILP as LP-format text (for `--dump-lp`). */
  readonly dumpLp: boolean;
};

export const DEFAULT_OPTIONS: PlanOptions = {
  method: 'all',
  solver: 'highs',
  timeLimitSeconds: 10,
  finalists: 6,
  dumpLp: false,
};
