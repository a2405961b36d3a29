import { MosaicError } from '../errors';
import { buildPerfModel, type PerfModel } from '../perf/perf-model';
import type { Plan } from '../spec/plan';
import type { ClusterSpec, ModelSpec, Profile } from '../spec/types';
import { toLpText } from '../../solver/lp-format';
import { baselineLayouts, type BaselineName } from './baselines';
import { explainInfeasible } from './fits';
import { heuristicSeeds, ilpStats, layoutTheta, planIlp, type IlpStats } from './ilp';
import { scoreLayout, toPlan } from './make-plan';
import { DEFAULT_OPTIONS, type PlanOptions } from './options';

/** What the exact planner did, for reports: model size, solver outcome, proof, chosen candidate. */
export type IlpSummary = {
  readonly stats: IlpStats;
  readonly provenOptimal: boolean;
  /** The ILP's objective as an iteration time on the linear model (no fill, no sync). */
  readonly linearMs?: number;
  /** Which candidate the simulator chose: the ILP optimum, a next-best solution or a seed. */
  readonly chosen: string;
  readonly plan: Plan;
  /** The heuristic's plan on the same linear model, for the heuristic's gap to the ILP. */
  readonly heuristicLinearMs?: number;
};

export type PlanningResult = {
  readonly perf: PerfModel;
  /** Every plan made, by provenance label; the best is `best`. */
  readonly plans: readonly Plan[];
  readonly best: Plan;
  readonly baselines: readonly ({ readonly name: BaselineName; readonly plan: Plan } | { readonly name: BaselineName; readonly reason: string })[];
  /** Wall time of the heuristic planner (baselines excluded). */
  readonly heuristicMs?: number;
  readonly heuristic?: Plan;
  readonly ilp?: IlpSummary;
  /** Wall time of the exact planner, pattern enumeration and every solve included. */
  readonly ilpMs?: number;
  /** The pattern ILP in LP format, when `dumpLp` was asked for. */
  readonly lpText?: string;
  /** Why the exact planner found no plan, when the other methods still did. */
  readonly ilpInfeasible?: string;
};

const elapsedMs = (since: bigint): number => Number(process.hrtime.bigint() - since) / 1e6;

/**
 * Plans a model on a cluster with the requested methods and returns every plan made, each checked by
 * the independent validator (in `toPlan`). Throws E_INFEASIBLE with the binding constraint in words
 * when nothing fits. Method `ilp` also runs the heuristic: its layouts seed and bound the ILP.
 */
export async function planModel(model: ModelSpec, cluster: ClusterSpec, profile: Profile | undefined, options: Partial<PlanOptions> = {}): Promise<PlanningResult> {
  const opts: PlanOptions = { ...DEFAULT_OPTIONS, ...options };
  const perf = buildPerfModel(model, cluster, profile);
  const why = explainInfeasible(perf);
  if (why) throw new MosaicError('E_INFEASIBLE', `${model.name} does not fit on ${cluster.name}: ${why}`);

  const plans: Plan[] = [];
  const baselines: PlanningResult['baselines'][number][] = [];
  for (const b of baselineLayouts(perf)) {
    if (!b.fits) {
      baselines.push({ name: b.name, reason: b.reason });
      continue;
    }
    const plan = toPlan(perf, scoreLayout(perf, b.layout), `baseline:${b.name}`, profile);
    baselines.push({ name: b.name, plan });
    plans.push(plan);
  }

  let heuristicMs: number | undefined;
  let heuristic: Plan | undefined;
  let ilp: IlpSummary | undefined;
  let ilpMs: number | undefined;
  let lpText: string | undefined;
  let ilpInfeasible: string | undefined;
  if (opts.method !== 'baseline') {
    const started = process.hrtime.bigint();
    // The baselines are in the heuristic's search space: it never returns a plan predicted slower than them.
    const seeds = heuristicSeeds(perf, opts.finalists);
    heuristicMs = elapsedMs(started);
    if (seeds.best) {
      heuristic = toPlan(perf, seeds.best.scored, `heuristic:${seeds.best.name}`, profile);
      plans.push(heuristic);
    }
    if (opts.method === 'ilp' || opts.method === 'all') {
      const ilpStarted = process.hrtime.bigint();
      if (opts.dumpLp) lpText = toLpText(ilpStats(perf).info.model);
      const r = await planIlp(perf, { solver: opts.solver, timeLimitSeconds: opts.timeLimitSeconds, seeds: seeds.layouts, ...(profile ? { profile } : {}) });
      ilpMs = elapsedMs(ilpStarted);
      if ('infeasible' in r) {
        if (plans.length === 0) throw new MosaicError('E_INFEASIBLE', r.infeasible);
        ilpInfeasible = r.infeasible;
      } else {
        const microbatches = model.batch.global / model.batch.micro;
        ilp = {
          stats: r.stats,
          provenOptimal: r.provenOptimal,
          ...(r.ilpLinearMs !== undefined ? { linearMs: r.ilpLinearMs } : {}),
          chosen: r.best.chosen,
          plan: r.best.plan,
          ...(seeds.best ? { heuristicLinearMs: microbatches / layoutTheta(perf, seeds.best.layout) } : {}),
        };
        plans.push(r.best.plan);
      }
    }
  }
  if (plans.length === 0) {
    const reasons = baselines.map((b) => ('reason' in b ? `${b.name}: ${b.reason}` : '')).filter(Boolean);
    throw new MosaicError('E_INFEASIBLE', `no plan for ${model.name} fits on ${cluster.name}: ${reasons.join('; ')}`);
  }
  // Ties go to the later plan: the ILP's (proven) answer over the heuristic's, the heuristic's over a baseline.
  const best = plans.reduce((a, b) => (b.prediction.iterationMs <= a.prediction.iterationMs ? b : a));
  return {
    perf, plans, best, baselines,
    ...(heuristicMs !== undefined ? { heuristicMs } : {}),
    ...(heuristic ? { heuristic } : {}),
    ...(ilp ? { ilp } : {}),
    ...(ilpMs !== undefined ? { ilpMs } : {}),
    ...(lpText !== undefined ? { lpText } : {}),
    ...(ilpInfeasible !== undefined ? { ilpInfeasible } : {}),
  };
}
