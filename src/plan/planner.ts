import { MosaicError } from '../errors';
import { buildPerfModel, type PerfModel } from '../perf/perf-model';
import type { Plan } from '../spec/plan';
import type { ClusterSpec, ModelSpec, Profile } from '../spec/types';
import { baselineLayouts, type BaselineName } from './baselines';
import { capacityBytes, explainInfeasible } from './fits';
import { heuristicCandidates } from './heuristic';
import { scoreLayout, toPlan, type ScoredLayout } from './make-plan';
import { DEFAULT_OPTIONS, type PlanOptions } from './options';

export type PlanningResult = {
  readonly perf: PerfModel;
  /** Every plan made, by provenance label; the best is `best`. */
  readonly plans: readonly Plan[];
  readonly best: Plan;
  readonly baselines: readonly ({ readonly name: BaselineName; readonly plan: Plan } | { readonly name: BaselineName; readonly reason: string })[];
  readonly heuristicMs?: number;
};

/**
 * Plans a model on a cluster with the requested methods and returns every plan made, each checked by
 * the independent validator. Throws E_INFEASIBLE with the binding constraint in words when nothing fits.
 */
export function planModel(model: ModelSpec, cluster: ClusterSpec, profile: Profile | undefined, options: Partial<PlanOptions> = {}): PlanningResult {
  const opts: PlanOptions = { ...DEFAULT_OPTIONS, ...options };
  if (opts.method === 'ilp') {
    throw new MosaicError('E_NOT_IMPLEMENTED', 'method "ilp" is not implemented yet (issue "Exact ILP planner"); use --method heuristic, baseline or all');
  }
  const perf = buildPerfModel(model, cluster, profile);
  const why = explainInfeasible(perf);
  if (why) throw new MosaicError('E_INFEASIBLE', `${model.name} does not fit on ${cluster.name}: ${why}`);

  const plans: Plan[] = [];
  const baselines: PlanningResult['baselines'][number][] = [];
  const scoredBaselines: ScoredLayout[] = [];
  for (const b of baselineLayouts(perf)) {
    if (!b.fits) {
      baselines.push({ name: b.name, reason: b.reason });
      continue;
    }
    const scored = scoreLayout(perf, b.layout);
    scoredBaselines.push(scored);
    const plan = toPlan(perf, scored, `baseline:${b.name}`, profile);
    baselines.push({ name: b.name, plan });
    plans.push(plan);
  }

  let heuristicMs: number | undefined;
  if (opts.method === 'heuristic' || opts.method === 'all') {
    const started = process.hrtime.bigint();
    const candidates = heuristicCandidates(perf, scoredBaselines.map((s) => s.layout), opts.finalists);
    let best: { scored: ScoredLayout; name: string } | undefined;
    for (const c of candidates) {
      const scored = scoreLayout(perf, c.layout);
      if (Math.max(...scored.memoryBytes) > capacityBytes(perf)) continue;
      if (!best || scored.simulation.iterationMs < best.scored.simulation.iterationMs) best = { scored, name: c.name };
    }
    // The baselines are in the heuristic's search space: it never returns a plan predicted slower than them.
    for (const [i, s] of scoredBaselines.entries()) {
      if (!best || s.simulation.iterationMs < best.scored.simulation.iterationMs) {
        best = { scored: s, name: `kept-baseline-${(baselines.filter((b) => 'plan' in b)[i] as { name: string }).name}` };
      }
    }
    heuristicMs = Number(process.hrtime.bigint() - started) / 1e6;
    if (best) plans.push(toPlan(perf, best.scored, `heuristic:${best.name}`, profile));
  }
  if (plans.length === 0) {
    const reasons = baselines.map((b) => ('reason' in b ? `${b.name}: ${b.reason}` : '')).filter(Boolean);
    throw new MosaicError('E_INFEASIBLE', `no plan for ${model.name} fits on ${cluster.name}: ${reasons.join('; ')}`);
  }
  const best = plans.reduce((a, b) => (b.prediction.iterationMs < a.prediction.iterationMs ? b : a));
  return { perf, plans, best, baselines, ...(heuristicMs !== undefined ? { heuristicMs } : {}) };
}
