import { InfeasibleError, MosaicError } from '../errors';
import type { ModuleStage } from '../spec/plan';
import type { Problem } from '../spec/problem';
import { resolveProblem } from '../spec/resolve';
import type { SolverName } from '../spec/types';
import { planModel, type PlanningResult } from './planner';

/** One case of `mosaic compare --suite`: bundled names or spec paths, with optional batch overrides. */
export type SuiteCase = { readonly model: string; readonly cluster: string; readonly globalBatch?: number; readonly microBatch?: number };

export type CaseReport =
  | {
      readonly model: string;
      readonly cluster: string;
      readonly fits: true;
      /** The bound over every plan of the space (perfect scaling when the exact search did not run). */
      readonly lowerBoundMs: number;
      /** The final plan (fastest of all) and its proven gap to the bound. */
      readonly best: { readonly iterationMs: number; readonly provenance: string; readonly gap: number; readonly boundMethod: string; readonly modules: readonly ModuleStage[] };
      readonly device: string;
      readonly bestBaseline?: { readonly name: string; readonly iterationMs: number };
      /** The heuristic planner's pick, with its true origin (`baseline:<name>` when no heuristic layout beat a baseline). */
      readonly heuristic: { readonly iterationMs: number; readonly linearMs?: number; readonly planningMs: number; readonly provenance: string };
      /** The throughput ILP's own plan; absent when it found none in its share of the time limit (`ilpMissing` says why). */
      readonly ilp?: {
        readonly iterationMs: number;
        readonly linearMs?: number;
        readonly lpBoundMs?: number;
        readonly status: string;
        readonly provenOptimal: boolean;
        readonly provenance: string;
        readonly chosen: string;
        readonly solveMs: number;
        readonly totalSolveMs: number;
        readonly planningMs: number;
        readonly backend: string;
        readonly patterns: number;
        readonly variables: number;
        readonly rows: number;
        readonly notes: readonly string[];
      };
      readonly ilpMissing?: string;
      /** Baseline / plan iteration time (> 1 is faster than the baseline). */
      readonly speedupOverBaseline?: { readonly heuristic: number; readonly ilp?: number; readonly best: number };
      /**
       * How far the heuristic is from optimal: `simulated` = heuristic / final plan − 1 (at least this
       * far), `toBound` = heuristic / lower bound − 1 (at most this far); `linear` = the same ratio as
       * `simulated` on the throughput ILP's linear model, heuristic against the ILP's plan.
       */
      readonly heuristicGap: { readonly simulated: number; readonly toBound: number; readonly linear?: number };
    }
  | { readonly model: string; readonly cluster: string; readonly fits: false; readonly reason: string };

/** `compareProblem` on a case named as the CLI names it (files or bundled names, batch overrides). */
export function compareCase(c: SuiteCase, solver: SolverName, timeLimitSeconds: number): Promise<CaseReport> {
  return compareProblem(resolveProblem(c.model, c.cluster, { global: c.globalBatch, micro: c.microBatch }), solver, timeLimitSeconds);
}

/**
 * Baselines, heuristic and ILP on one resolved case (`planModel` with method `all`), all scored by the
 * simulator. Infeasibility is a value.
 */
export async function compareProblem({ model, cluster }: Pick<Problem, 'model' | 'cluster'>, solver: SolverName, timeLimitSeconds: number): Promise<CaseReport> {
  const names = { model: model.name, cluster: cluster.name };
  let result: PlanningResult;
  try {
    result = await planModel(model, cluster, undefined, { method: 'all', solver, timeLimitSeconds });
  } catch (err) {
    // The binding constraint alone: the report names the model and cluster itself.
    if (err instanceof InfeasibleError) return { ...names, fits: false, reason: err.reason };
    if (err instanceof MosaicError && err.code === 'E_INFEASIBLE') return { ...names, fits: false, reason: err.message };
    throw err;
  }
  const { heuristic, ilp } = result;
  if (!heuristic) return { ...names, fits: false, reason: 'no heuristic or baseline layout fits in memory' };
  let bestBaseline: { name: string; iterationMs: number } | undefined;
  for (const b of result.baselines) {
    if ('plan' in b && (!bestBaseline || b.plan.prediction.iterationMs < bestBaseline.iterationMs)) bestBaseline = { name: b.name, iterationMs: b.plan.prediction.iterationMs };
  }
  const heuristicMs = heuristic.prediction.iterationMs;
  const bestMs = result.best.prediction.iterationMs;
  const heuristicLinear = ilp?.heuristicLinearMs;
  return {
    ...names,
    fits: true,
    lowerBoundMs: result.bound.boundMs,
    best: { iterationMs: bestMs, provenance: result.best.provenance, gap: result.best.bound!.gap, boundMethod: result.bound.method, modules: result.best.prediction.stages },
    device: cluster.device,
    ...(bestBaseline ? { bestBaseline } : {}),
    heuristic: { iterationMs: heuristicMs, ...(heuristicLinear !== undefined ? { linearMs: heuristicLinear } : {}), planningMs: result.heuristicMs as number, provenance: heuristic.provenance },
    ...(ilp
      ? {
          ilp: {
            iterationMs: ilp.plan.prediction.iterationMs,
            ...(ilp.linearMs !== undefined ? { linearMs: ilp.linearMs } : {}),
            ...(ilp.stats.lpBoundMs !== undefined ? { lpBoundMs: ilp.stats.lpBoundMs } : {}),
            status: ilp.plan.solver?.status ?? ilp.stats.status,
            provenOptimal: ilp.provenOptimal,
            provenance: ilp.plan.provenance,
            chosen: ilp.chosen,
            solveMs: ilp.stats.solveMs,
            totalSolveMs: ilp.stats.totalSolveMs,
            planningMs: result.ilpMs as number,
            backend: ilp.stats.backend,
            patterns: ilp.stats.patterns,
            variables: ilp.stats.variables,
            rows: ilp.stats.rows,
            notes: ilp.stats.notes,
          },
        }
      : // The throughput ILP is one candidate among several: without its plan (its share of the time limit
        // ran out) the comparison still stands on the final plan and its bound, and says why the ILP is missing.
        { ilpMissing: result.ilpInfeasible ?? 'the throughput ILP found no plan' }),
    ...(bestBaseline
      ? { speedupOverBaseline: { heuristic: bestBaseline.iterationMs / heuristicMs, ...(ilp ? { ilp: bestBaseline.iterationMs / ilp.plan.prediction.iterationMs } : {}), best: bestBaseline.iterationMs / bestMs } }
      : {}),
    heuristicGap: {
      simulated: heuristicMs / bestMs - 1,
      toBound: heuristicMs / result.bound.boundMs - 1,
      ...(ilp?.linearMs !== undefined && heuristicLinear !== undefined ? { linear: heuristicLinear / ilp.linearMs - 1 } : {}),
    },
  };
}
