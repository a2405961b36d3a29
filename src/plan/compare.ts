import { lowerBoundMs } from '../perf/lower-bound';
import { buildPerfModel } from '../perf/perf-model';
import { resolveCluster, resolveModel, withBatch } from '../spec/resolve';
import { baselineLayouts } from './baselines';
import { explainInfeasible } from './fits';
import { heuristicSeeds, layoutTheta, planIlp } from './ilp';
import { scoreLayout } from './make-plan';
import type { SolverName } from './options';

/** One case of `mosaic compare --suite`: bundled names or spec paths, with optional batch overrides. */
export type SuiteCase = { readonly model: string; readonly cluster: string; readonly globalBatch?: number; readonly microBatch?: number };

export type CaseReport =
  | {
      readonly model: string;
      readonly cluster: string;
      readonly fits: true;
      readonly lowerBoundMs: number;
      readonly bestBaseline?: { readonly name: string; readonly iterationMs: number };
      readonly heuristic: { readonly iterationMs: number; readonly linearMs: number; readonly planningMs: number; readonly name: string };
      readonly ilp: {
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
      /** Baseline / plan iteration time (> 1 is faster than the baseline). */
      readonly speedupOverBaseline?: { readonly heuristic: number; readonly ilp: number };
      /** Heuristic / ILP − 1: how much slower the heuristic is than the ILP's plan. */
      readonly heuristicGap: { readonly simulated: number; readonly linear?: number };
    }
  | { readonly model: string; readonly cluster: string; readonly fits: false; readonly reason: string };

/** Baselines, heuristic and ILP on one case, all scored by the simulator. Infeasibility is a value. */
export async function compareCase(c: SuiteCase, solver: SolverName, timeLimitSeconds: number): Promise<CaseReport> {
  const model = withBatch(resolveModel(c.model), c.globalBatch, c.microBatch);
  const cluster = resolveCluster(c.cluster);
  const perf = buildPerfModel(model, cluster);
  const names = { model: model.name, cluster: cluster.name };
  const why = explainInfeasible(perf);
  if (why) return { ...names, fits: false, reason: why };
  const microbatches = model.batch.global / model.batch.micro;
  let bestBaseline: { name: string; iterationMs: number } | undefined;
  for (const b of baselineLayouts(perf)) {
    if (!b.fits) continue;
    const ms = scoreLayout(perf, b.layout).simulation.iterationMs;
    if (!bestBaseline || ms < bestBaseline.iterationMs) bestBaseline = { name: b.name, iterationMs: ms };
  }
  const started = process.hrtime.bigint();
  const seeds = heuristicSeeds(perf);
  const planningMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (!seeds.best) return { ...names, fits: false, reason: 'no heuristic or baseline layout fits in memory' };
  const ilpStarted = process.hrtime.bigint();
  const r = await planIlp(perf, { solver, timeLimitSeconds, seeds: seeds.layouts });
  const ilpPlanningMs = Number(process.hrtime.bigint() - ilpStarted) / 1e6;
  if ('infeasible' in r) return { ...names, fits: false, reason: r.infeasible };
  const heuristicMs = seeds.best.scored.simulation.iterationMs;
  const ilpMs = r.best.simulation.iterationMs;
  const heuristicLinear = microbatches / layoutTheta(perf, seeds.best.layout);
  return {
    ...names,
    fits: true,
    lowerBoundMs: lowerBoundMs(perf),
    ...(bestBaseline ? { bestBaseline } : {}),
    heuristic: { iterationMs: heuristicMs, linearMs: heuristicLinear, planningMs, name: seeds.best.name },
    ilp: {
      iterationMs: ilpMs,
      ...(r.ilpLinearMs !== undefined ? { linearMs: r.ilpLinearMs } : {}),
      ...(r.stats.lpBoundMs !== undefined ? { lpBoundMs: r.stats.lpBoundMs } : {}),
      status: r.best.solver.status,
      provenOptimal: r.provenOptimal,
      provenance: r.best.provenance,
      chosen: r.best.chosen,
      solveMs: r.stats.solveMs,
      totalSolveMs: r.stats.totalSolveMs,
      planningMs: ilpPlanningMs,
      backend: r.stats.backend,
      patterns: r.stats.patterns,
      variables: r.stats.variables,
      rows: r.stats.rows,
      notes: r.stats.notes,
    },
    ...(bestBaseline ? { speedupOverBaseline: { heuristic: bestBaseline.iterationMs / heuristicMs, ilp: bestBaseline.iterationMs / ilpMs } } : {}),
    heuristicGap: { simulated: heuristicMs / ilpMs - 1, ...(r.ilpLinearMs !== undefined ? { linear: heuristicLinear / r.ilpLinearMs - 1 } : {}) },
  };
}

