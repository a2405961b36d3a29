/**
 * glpk.js adapter body; runs inside the solver worker (it blocks its thread while solving).
 *
 * Facts this code relies on (DESIGN §4, checked against glpk.js 5.0 sources):
 * - Load `glpk.js/node`; the default entry needs Web Workers. The package is ESM only.
 * - MIP must use the presolver: `presol: false` on a MIP silently returns UNDEF with z = 0.
 * - z = 0 is also reported for infeasible problems: status is read, z never trusted.
 * - The MIP path does not expose glp_intopt's return code, so GLP_FEAS alone cannot say whether
 *   the clock or the gap stopped the search; the elapsed time decides.
 * - A MIP whose relaxation is unbounded comes back UNDEF; an LP relaxation without presolve
 *   (which reports NOFEAS/UNBND properly) tells that apart from a time limit.
 * - No cutoff, MIP start or best bound.
 * Names are mapped to `x<i>`/`r<i>`: glpk.js keys its result by column name, and GLPK caps names
 * at 255 characters.
 */

import { MilpModel } from '../model';
import { CUTOFF_INFEASIBLE_MESSAGE, usesCutoffRow, withCutoffRow } from './cutoff';
import { finishWithValues } from './finish-result';
import { SolveOptions, SolveResult } from './types';

/** The slice of the glpk.js API used here (its typings are not reachable under `moduleResolution: node`). */
export type GlpkApi = {
  readonly GLP_MIN: number; readonly GLP_MAX: number;
  readonly GLP_FR: number; readonly GLP_LO: number; readonly GLP_UP: number; readonly GLP_DB: number; readonly GLP_FX: number;
  readonly GLP_MSG_OFF: number;
  readonly GLP_UNDEF: number; readonly GLP_FEAS: number; readonly GLP_INFEAS: number; readonly GLP_NOFEAS: number; readonly GLP_OPT: number; readonly GLP_UNBND: number;
  solve(lp: GlpkLp, options: { msglev?: number; tmlim?: number; presol?: boolean; mipgap?: number }): { result: { status: number; z: number; vars: Record<string, number> } };
};

type Bnds = { type: number; lb: number; ub: number };
export type GlpkLp = {
  name: string;
  objective: { direction: number; name: string; vars: { name: string; coef: number }[] };
  subjectTo: { name: string; vars: { name: string; coef: number }[]; bnds: Bnds }[];
  bounds: ({ name: string } & Bnds)[];
  generals: string[];
};

/** Cached: the WebAssembly module is compiled once per worker. */
let glpkPromise: Promise<GlpkApi> | undefined;

// TypeScript compiles `import()` to `require()` under CommonJS; hide it so Node performs a real
// ESM import (glpk.js is `"type": "module"`, and require(esm) is only default from Node 20.19).
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<{ default: () => Promise<GlpkApi> }>;

export function loadGlpk(): Promise<GlpkApi> {
  glpkPromise ??= importEsm('glpk.js/node').then((m) => m.default());
  return glpkPromise;
}

function bnds(glpk: GlpkApi, lower: number | undefined, upper: number | undefined): Bnds {
  const lo = lower ?? -Infinity;
  const up = upper ?? Infinity;
  if (lo === -Infinity && up === Infinity) return { type: glpk.GLP_FR, lb: 0, ub: 0 };
  if (up === Infinity) return { type: glpk.GLP_LO, lb: lo, ub: 0 };
  if (lo === -Infinity) return { type: glpk.GLP_UP, lb: 0, ub: up };
  if (lo === up) return { type: glpk.GLP_FX, lb: lo, ub: up };
  return { type: glpk.GLP_DB, lb: lo, ub: up };
}

export function toGlpkLp(glpk: GlpkApi, model: MilpModel): GlpkLp {
  const id = new Map(model.variables.map((v, i) => [v.name, `x${i}`]));
  const col = (name: string): string => id.get(name) as string;
  const objectiveCoef = new Map(model.objective.map((t) => [t.variable, t.coefficient]));
  return {
    name: 'mosaic',
    // Every column is listed in the objective (0 where absent) so GLPK creates it even when unused.
    objective: {
      direction: model.sense === 'max' ? glpk.GLP_MAX : glpk.GLP_MIN,
      name: 'obj',
      vars: model.variables.map((v) => ({ name: col(v.name), coef: objectiveCoef.get(v.name) ?? 0 })),
    },
    subjectTo: model.rows.map((r, i) => ({
      name: `r${i}`,
      vars: r.terms.map((t) => ({ name: col(t.variable), coef: t.coefficient })),
      bnds: bnds(glpk, r.lower, r.upper),
    })),
    bounds: model.variables.map((v) => ({ name: col(v.name), ...bnds(glpk, v.lower, v.upper) })),
    generals: model.variables.filter((v) => v.integer).map((v) => col(v.name)),
  };
}

function valuesByName(model: MilpModel, vars: Record<string, number>): Map<string, number> {
  return new Map(model.variables.map((v, i) => [v.name, vars[`x${i}`] ?? 0]));
}

/** `budgetMs` is what is left of the caller's time limit when the worker starts solving. */
export function solveWithGlpk(glpk: GlpkApi, original: MilpModel, options: SolveOptions, budgetMs: number): SolveResult {
  const started = Date.now();
  const model = withCutoffRow(original, options);
  const lp = toGlpkLp(glpk, model);
  const isMip = model.variables.some((v) => v.integer);
  const tmlimSeconds = Math.max(0.01, budgetMs / 1000);
  const out = glpk.solve(lp, {
    msglev: glpk.GLP_MSG_OFF,
    tmlim: tmlimSeconds,
    // (see header) presolve is mandatory for MIP; for an LP it hides NOFEAS/UNBND behind UNDEF.
    presol: isMip,
    mipgap: options.relGap ?? 0,
  });
  const solveMs = Date.now() - started;
  // GLPK checks its clock between nodes; 95% of the budget counts as "the clock stopped it".
  const outOfTime = solveMs >= 0.95 * budgetMs;
  const { status, vars } = out.result;
  const base = { backend: 'glpk' as const, solveMs };
  const infeasible = (): SolveResult =>
    usesCutoffRow(options)
      ? { ...base, status: 'infeasible', message: CUTOFF_INFEASIBLE_MESSAGE }
      : { ...base, status: 'infeasible' };

  if (status === glpk.GLP_OPT || status === glpk.GLP_FEAS) {
    return finishWithValues({
      backend: 'glpk', model, values: valuesByName(model, vars), solveMs,
      stoppedByTime: status === glpk.GLP_FEAS && outOfTime,
      // GLPK ends a search stopped by `mipgap` with GLP_FEAS (glp_intopt returns GLP_EMIPGAP): that is
      // optimal within the gap, unless the clock stopped it first.
      provenOptimal: status === glpk.GLP_OPT || (status === glpk.GLP_FEAS && !outOfTime && (options.relGap ?? 0) > 0),
      gapTolerance: options.relGap ?? 0,
    });
  }
  if (status === glpk.GLP_NOFEAS) return infeasible();
  if (status === glpk.GLP_UNBND) return { ...base, status: 'error', message: 'unbounded' };
  if (status === glpk.GLP_UNDEF && isMip) {
    if (outOfTime) return { ...base, status: 'timeLimit', message: 'time limit reached before any integer solution' };
    // Diagnose with the LP relaxation, without presolve so its status is informative.
    const relaxed = glpk.solve({ ...lp, generals: [] }, { msglev: glpk.GLP_MSG_OFF, tmlim: tmlimSeconds, presol: false }).result.status;
    if (relaxed === glpk.GLP_NOFEAS) return infeasible();
    if (relaxed === glpk.GLP_UNBND) return { ...base, solveMs: Date.now() - started, status: 'error', message: 'unbounded' };
  }
  if (outOfTime) return { ...base, status: 'timeLimit', message: `glpk stopped with status ${status} at the time limit` };
  return { ...base, status: 'error', message: `glpk returned status ${status} (UNDEF=${glpk.GLP_UNDEF}, INFEAS=${glpk.GLP_INFEAS})` };
}
