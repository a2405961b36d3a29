import { DEFAULT_OPTIONS } from '../plan/options';
import { InfeasibleError, MosaicError, type ErrorCode } from '../errors';
import { compareProblem, type CaseReport } from '../plan/compare';
import { boundMethod, planModel, type PlanningResult } from '../plan/planner';
import type { Plan } from '../spec/plan';
import { resolveProblem } from '../spec/resolve';
import type { BatchCase } from './manifest';

/** What a worker is given: the normalized case and where its specs are. */
export type CaseJob = {
  readonly id: string;
  readonly case: BatchCase;
  readonly modelPath: string;
  readonly clusterPath: string;
};

export type CaseError = { readonly code: ErrorCode; readonly message: string };

/**
 * The plan summary of a finished case. Timing fields (`planningMs`, `solveMs`, `totalSolveMs`) vary from
 * run to run; everything else is a deterministic function of the case (for ILP cases: when the solver
 * proves its answer within the time limit).
 */
export type CaseSummary = {
  readonly model: string;
  readonly cluster: string;
  readonly gpus: number;
  readonly globalBatch: number;
  readonly microBatch: number;
  readonly perfSource?: string;
  readonly lowerBoundMs: number;
  readonly best: { readonly provenance: string; readonly iterationMs: number; readonly samplesPerSecond: number; readonly lowerBoundRatio: number };
  /** Iteration ms of each baseline that fits, null for one that does not (only `compare` leaves out all but the best). */
  readonly baselines: Readonly<Record<string, number | null>>;
  readonly bestBaseline?: { readonly name: string; readonly iterationMs: number };
  /** Baseline ms / best plan ms, per fitting baseline. */
  readonly speedupOverBaselines: Readonly<Record<string, number>>;
  readonly speedupOverBestBaseline?: number;
  readonly heuristic?: { readonly iterationMs: number; readonly provenance: string; readonly planningMs?: number };
  readonly ilp?: {
    readonly iterationMs: number;
    readonly provenance: string;
    readonly status: string;
    readonly backend?: string;
    readonly provenOptimal?: boolean;
    /** Relative gap of the ILP's answer to its bound (0 when proven optimal), as the solver or the LP bound gives it. */
    readonly gap?: number;
    readonly solveMs?: number;
    readonly totalSolveMs?: number;
  };
  /** Heuristic ms / final plan ms − 1 on the simulator: how far, at least, the heuristic is from optimal. */
  readonly heuristicGap?: number;
  /** Heuristic / throughput ILP plan − 1 on the linear model the ILP optimises. */
  readonly heuristicGapLinear?: number;
};

export type CaseOutcome =
  | { readonly status: 'ok'; readonly summary: CaseSummary; readonly planningMs: number }
  | { readonly status: 'failed'; readonly error: CaseError; readonly planningMs: number };

const elapsedMs = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e6;

/** Runs one case in this thread. Never throws: a failure is an outcome with its code and reason. */
export async function runCase(job: CaseJob): Promise<CaseOutcome> {
  const start = process.hrtime.bigint();
  try {
    const summary = await runCaseOrThrow(job);
    return { status: 'ok', summary, planningMs: elapsedMs(start) };
  } catch (err) {
    return { status: 'failed', error: toCaseError(err), planningMs: elapsedMs(start) };
  }
}

export function toCaseError(err: unknown): CaseError {
  if (err instanceof MosaicError) return { code: err.code, message: err.lines.join('; ') };
  const e = err as Error;
  return { code: 'E_INTERNAL', message: `internal error (a bug): ${e?.stack?.split('\n').slice(0, 4).join(' | ') ?? String(err)}` };
}

async function runCaseOrThrow(job: CaseJob): Promise<CaseSummary> {
  const c = job.case;
  const problem = resolveProblem(job.modelPath, job.clusterPath, c.batch ?? {});
  const { model, cluster, gpuCount } = problem;
  const shape = { model: model.name, cluster: cluster.name, gpus: gpuCount, globalBatch: model.batch.global, microBatch: model.batch.micro };
  if (c.method === 'compare') {
    const r = await compareProblem(problem, c.solver ?? DEFAULT_OPTIONS.solver, c.timeLimitSeconds);
    if (!r.fits) throw new InfeasibleError(`${r.model} does not fit on ${r.cluster}`, r.reason);
    return summarizeCompare(shape, r);
  }
  const options = { method: c.method, ...(c.solver ? { solver: c.solver } : {}), timeLimitSeconds: c.timeLimitSeconds };
  const result = await planModel(model, cluster, undefined, options);
  return summarizePlanning(shape, result);
}

type Shape = Pick<CaseSummary, 'model' | 'cluster' | 'gpus' | 'globalBatch' | 'microBatch'>;

function summarizeCompare(shape: Shape, r: Extract<CaseReport, { fits: true }>): CaseSummary {
  // The case's best is the final plan (fastest of every origin, with the proven bound), as for method all.
  const bestMs = r.best.iterationMs;
  const ilp = r.ilp;
  const gap = !ilp ? undefined : ilp.provenOptimal ? 0 : ilp.lpBoundMs !== undefined && ilp.linearMs !== undefined ? Math.max(0, 1 - ilp.lpBoundMs / ilp.linearMs) : undefined;
  const baselines: Record<string, number | null> = r.bestBaseline ? { [r.bestBaseline.name]: r.bestBaseline.iterationMs } : {};
  return {
    ...shape,
    lowerBoundMs: r.lowerBoundMs,
    best: { provenance: r.best.provenance, iterationMs: bestMs, samplesPerSecond: (shape.globalBatch * 1000) / bestMs, lowerBoundRatio: bestMs / r.lowerBoundMs },
    baselines,
    ...(r.bestBaseline ? { bestBaseline: r.bestBaseline } : {}),
    speedupOverBaselines: r.bestBaseline ? { [r.bestBaseline.name]: r.bestBaseline.iterationMs / bestMs } : {},
    ...(r.bestBaseline ? { speedupOverBestBaseline: r.bestBaseline.iterationMs / bestMs } : {}),
    heuristic: { iterationMs: r.heuristic.iterationMs, provenance: r.heuristic.provenance, planningMs: r.heuristic.planningMs },
    ...(ilp
      ? {
          ilp: {
            iterationMs: ilp.iterationMs,
            provenance: ilp.provenance,
            status: ilp.status,
            ...(ilp.backend ? { backend: ilp.backend } : {}),
            provenOptimal: ilp.provenOptimal,
            ...(gap !== undefined ? { gap } : {}),
            solveMs: ilp.solveMs,
            totalSolveMs: ilp.totalSolveMs,
          },
        }
      : {}),
    heuristicGap: r.heuristicGap.simulated,
    ...(r.heuristicGap.linear !== undefined ? { heuristicGapLinear: r.heuristicGap.linear } : {}),
  };
}

function summarizePlanning(shape: Shape, result: PlanningResult): CaseSummary {
  const best = result.best;
  const ms = best.prediction.iterationMs;
  const baselines: Record<string, number | null> = {};
  let bestBaseline: { name: string; iterationMs: number } | undefined;
  for (const b of result.baselines) {
    if ('plan' in b) {
      baselines[b.name] = b.plan.prediction.iterationMs;
      if (!bestBaseline || b.plan.prediction.iterationMs < bestBaseline.iterationMs) bestBaseline = { name: b.name, iterationMs: b.plan.prediction.iterationMs };
    } else baselines[b.name] = null;
  }
  const speedupOverBaselines = Object.fromEntries(Object.entries(baselines).flatMap(([n, b]) => (b === null ? [] : [[n, b / ms]])));
  const heuristic = result.heuristic ?? result.plans.find((p) => p.provenance.startsWith('heuristic:'));
  const ilpPlan: Plan | undefined = result.ilp?.plan ?? result.plans.find((p) => p.provenance === 'ilp');
  const s = ilpPlan?.solver;
  const stats = result.ilp?.stats;
  const provenOptimal = result.ilp?.provenOptimal ?? false;
  const gap = provenOptimal ? 0 : (s?.gap ?? stats?.gapToLpBound);
  return {
    ...shape,
    perfSource: result.perf.source,
    lowerBoundMs: best.prediction.lowerBoundMs,
    best: { provenance: best.provenance, iterationMs: ms, samplesPerSecond: best.prediction.samplesPerSecond, lowerBoundRatio: ms / best.prediction.lowerBoundMs },
    baselines,
    ...(bestBaseline ? { bestBaseline, speedupOverBestBaseline: bestBaseline.iterationMs / ms } : {}),
    speedupOverBaselines,
    ...(heuristic
      ? { heuristic: { iterationMs: heuristic.prediction.iterationMs, provenance: heuristic.provenance, ...(result.heuristicMs !== undefined ? { planningMs: result.heuristicMs } : {}) } }
      : {}),
    ...(ilpPlan
      ? {
          ilp: {
            iterationMs: ilpPlan.prediction.iterationMs,
            provenance: ilpPlan.provenance,
            // The exact search's plan without a throughput ILP answer: its status is how the search stopped.
            status: stats?.status ?? s?.status ?? boundMethod(result.exact?.stopped),
            ...((stats?.backend ?? s?.backend) ? { backend: stats?.backend ?? s?.backend } : {}),
            provenOptimal,
            ...(gap !== undefined ? { gap } : {}),
            ...((stats?.solveMs ?? s?.solveMs) !== undefined ? { solveMs: stats?.solveMs ?? s?.solveMs } : {}),
            ...(stats?.totalSolveMs !== undefined ? { totalSolveMs: stats.totalSolveMs } : {}),
          },
        }
      : {}),
    // Against the final plan, as compare's: only where an exact or ILP search ran beside the heuristic.
    ...(heuristic && ilpPlan ? { heuristicGap: heuristic.prediction.iterationMs / ms - 1 } : {}),
  };
}
