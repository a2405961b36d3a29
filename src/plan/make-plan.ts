import { MosaicError } from '../errors';
import { moduleBreakdown } from '../perf/breakdown';
import { lowerBoundMs } from '../perf/lower-bound';
import { planMemoryBytes } from '../perf/memory';
import type { PerfModel } from '../perf/perf-model';
import { simulateIteration, type Simulation } from '../perf/simulate';
import { PLAN_VERSION, type Plan, type PlanGpu, type PlanReplica, type Provenance, type SolverRecord } from '../spec/plan';
import type { Profile } from '../spec/types';
import { decodeLayout, layoutKey, type Layout } from './layout';
import { validatePlan } from './validate';
import { planLowerBound } from './exact/plan-bound';
import { boundTerms } from './exact/terms';
import { DEFAULT_MAX_SLOTS } from './options';

/** A decoded layout scored by the simulator, before it becomes a Plan. */
export type ScoredLayout = {
  readonly layout: Layout;
  readonly gpus: PlanGpu[];
  readonly replicas: PlanReplica[];
  readonly simulation: Simulation;
  readonly memoryBytes: number[];
};

/**
 * Layouts already scored, per performance model (one per planning run): the baselines, the heuristic's
 * candidates and the throughput ILP's seeds are the same layouts, and at thousands of GPUs each
 * simulation takes 0.2–0.5 s (LLaVA-1.5-7B on 512×8 H100: 18 of them were simulated twice).
 */
const scoredLayouts = new WeakMap<PerfModel, Map<string, ScoredLayout>>();

/** Decodes a layout and simulates it, once per performance model and layout (the result is shared: read only). */
export function scoreLayout(perf: PerfModel, layout: Layout): ScoredLayout {
  let cache = scoredLayouts.get(perf);
  if (!cache) scoredLayouts.set(perf, (cache = new Map()));
  const key = layoutKey(layout);
  let scored = cache.get(key);
  if (!scored) {
    const { gpus, replicas } = decodeLayout(perf, layout);
    cache.set(key, (scored = { ...scorePlacement(perf, gpus, replicas), layout }));
  }
  return scored;
}

/** Simulates concrete GPUs and replicas (GPUs missing at the end are added idle) and counts their memory. */
export function scorePlacement(perf: PerfModel, gpus: PlanGpu[], replicas: PlanReplica[]): ScoredLayout {
  const total = perf.gpuCount;
  for (let id = gpus.length; id < total; id++) gpus.push({ id, node: perf.nodeOf(id), slots: [] });
  return { layout: [], gpus, replicas, simulation: simulateIteration(perf, gpus, replicas), memoryBytes: planMemoryBytes(perf, gpus, replicas) };
}

/** Builds the Plan for a scored layout and checks it with the independent validator. */
export function toPlan(perf: PerfModel, scored: ScoredLayout, provenance: Provenance, profile?: Profile, solver?: SolverRecord): Plan {
  const sim = scored.simulation;
  const stages = moduleBreakdown(perf.order, sim, scored.replicas);
  const plan: Plan = {
    version: PLAN_VERSION,
    model: perf.model,
    cluster: perf.cluster,
    ...(profile ? { profile } : {}),
    provenance,
    gpus: scored.gpus,
    replicas: scored.replicas,
    prediction: {
      iterationMs: sim.iterationMs,
      samplesPerSecond: (perf.model.batch.global / sim.iterationMs) * 1000,
      lowerBoundMs: Math.max(lowerBoundMs(perf), planLowerBound(boundTerms(perf, DEFAULT_MAX_SLOTS), scored.gpus, scored.replicas).boundMs),
      memoryBytesPerGpu: scored.memoryBytes,
      stages,
      perfSource: perf.source,
    },
    ...(solver ? { solver } : {}),
  };
  const problems = validatePlan(plan);
  if (problems.length > 0) {
    throw new MosaicError('E_INTERNAL', [`planner produced an invalid ${provenance} plan (a bug):`, ...problems.map((p) => `  ${p}`)]);
  }
  return plan;
}
