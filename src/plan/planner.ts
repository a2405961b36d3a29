import { InfeasibleError, MosaicError } from '../errors';
import { buildPerfModel, type PerfModel } from '../perf/perf-model';
import type { Plan, PlanningBound, Provenance } from '../spec/plan';
import { lowerBoundMs } from '../perf/lower-bound';
import { quotaLevels } from '../perf/timing';
import { exactSearch, type ExactResult } from './exact/search';
import type { ScoredLayout } from './make-plan';
import type { ClusterSpec, ModelSpec, Profile } from '../spec/types';
import { toLpText } from '../../solver/lp-format';
import { baselineLayouts, type BaselineName } from './baselines';
import { explainInfeasible } from './fits';
import { heuristicSeeds, ilpStats, layoutTheta, planIlp, type IlpStats } from './ilp';
import { scoreLayout, scorePlacement, toPlan } from './make-plan';
import { polishPlacement } from './polish';
import { DEFAULT_MAX_SLOTS, DEFAULT_OPTIONS, type PlanOptions } from './options';
import { requireSolver } from './solver-available';

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
  /** Heuristic candidates left unsimulated when its share of the time limit ran out (0 when none). */
  readonly heuristicUnsimulated?: number;
  readonly heuristic?: Plan;
  readonly ilp?: IlpSummary;
  /** Wall time of the exact planner, pattern enumeration and every solve included. */
  readonly ilpMs?: number;
  /** The pattern ILP in LP format, when `dumpLp` was asked for. */
  readonly lpText?: string;
  /** Why the exact planner found no plan, when the other methods still did. */
  readonly ilpInfeasible?: string;
  /** The throughput ILP ran out of time before an answer of its own (ilpInfeasible says so in words). */
  readonly ilpTimedOut?: boolean;
  /** The bound on every plan of the space, as attached to every plan (`Plan.bound`). */
  readonly bound: Omit<PlanningBound, 'gap'>;
  /** The exact search's trials, when it ran. */
  readonly exact?: ExactResult;
};

/**
 * The throughput ILP enumerates every grouping of every subset of the modules (Bell(n + 1) of them:
 * 21,147 for 8 modules, 27.6 million for 12, which hung the planner); above this many modules it is
 * not run and the result says why. The exact search and the heuristic cap their own enumerations.
 */
export const MAX_THROUGHPUT_ILP_MODULES = 8;

/**
 * Shares of the time limit: the heuristic's simulations of its candidates (until HEURISTIC_SHARE of the
 * limit from the start of planning; every baseline and its best estimate are simulated whatever the
 * clock), the simulator's polish of the heuristic's plan (part of the heuristic), the
 * exact search (until EXACT_END of the limit from the start of planning, baselines and heuristic
 * included, and at least EXACT_MIN_MS), the throughput ILP (until ILP_END), and the polish of the
 * fastest plan of all and of the exact search's proposal (each polish gets at least 0.5 s). Ends counted
 * from the start keep the whole run near the limit when simulations are slow (thousands of GPUs: 0.2–0.5 s
 * each) instead of adding every phase's full share after them.
 */
const HEURISTIC_SHARE = 0.3;
const HEURISTIC_POLISH_SHARE = 0.1;
const EXACT_END = 0.75;
const EXACT_MIN_MS = 1000;
const ILP_END = 0.85;
const POLISH_SHARE = 0.1;

/** The plan space every bound is over, in words. */
export function spaceDescription(perf: PerfModel, maxSlots: number): string {
  const c = perf.cluster;
  const levels = quotaLevels(c).length;
  return `every plan of ${perf.model.name} on ${c.name} with at most ${maxSlots} slots per GPU at the ${levels} quota levels of ${c.gpu.name} (${c.gpu.smGranularity.min} SMs, then steps of ${c.gpu.smGranularity.step}), any modules per slot (a module may sit in several slots of a GPU) and any microbatch split`;
}

/** How the exact search's stop reads to a user: the bound method words of src/spec/words.ts. */
export function boundMethod(stopped: ExactResult['stopped'] | undefined): PlanningBound['method'] {
  if (!stopped || stopped === 'patterns') return 'perfect scaling (no exact search run)';
  return ({ gap: 'relaxation: gap target met', bracketed: 'relaxation: optimum bracketed', timeLimit: 'relaxation: time limit', trials: 'relaxation: trial budget spent', enumerated: 'enumeration: every plan simulated or ruled out' } as const)[stopped];
}

function planningBound(perf: PerfModel, exact: ExactResult | undefined): Omit<PlanningBound, 'gap'> {
  const space = spaceDescription(perf, DEFAULT_MAX_SLOTS);
  if (!exact || exact.stopped === 'patterns') return { boundMs: exact?.boundMs ?? lowerBoundMs(perf) + (perf.engineCosts?.perGraphMs ?? 0), space, method: boundMethod(exact?.stopped) };
  return { boundMs: exact.boundMs, space, method: boundMethod(exact.stopped) };
}

const elapsedMs = (since: bigint): number => Number(process.hrtime.bigint() - since) / 1e6;

/** The provenance of a polished plan: `heuristic:polish-of-<origin>` (`ilp`, `waterfill`, `baseline-sequential`, …). */
const polishedProvenance = (origin: string): Provenance => `heuristic:polish-of-${origin.replace(/^heuristic:/, '').replace(':', '-')}`;

/**
 * Plans a model on a cluster with the requested methods and returns every plan made, each checked by
 * the independent validator (in `toPlan`). Throws E_INFEASIBLE with the binding constraint in words
 * when nothing fits. Method `ilp` also runs the heuristic: its layouts seed and bound the ILP.
 */
export async function planModel(model: ModelSpec, cluster: ClusterSpec, profile: Profile | undefined, options: Partial<PlanOptions> = {}): Promise<PlanningResult> {
  const opts: PlanOptions = { ...DEFAULT_OPTIONS, ...options };
  if (opts.method === 'ilp' || opts.method === 'all') requireSolver(opts.solver);
  const planningStarted = Date.now();
  const perf = buildPerfModel(model, cluster, profile);
  const why = explainInfeasible(perf);
  if (why) throw new InfeasibleError(`${model.name} does not fit on ${cluster.name}`, why);

  const plans: Plan[] = [];
  /** The simulation each plan was made from, where the planner has it. */
  const simulated = new Map<Plan, ScoredLayout>();
  const baselines: PlanningResult['baselines'][number][] = [];
  for (const b of baselineLayouts(perf)) {
    if (!b.fits) {
      baselines.push({ name: b.name, reason: b.reason });
      continue;
    }
    const scored = scoreLayout(perf, b.layout);
    const plan = toPlan(perf, scored, `baseline:${b.name}`, profile);
    simulated.set(plan, scored);
    baselines.push({ name: b.name, plan });
    plans.push(plan);
  }

  let exact: ExactResult | undefined;
  let heuristicMs: number | undefined;
  let heuristicUnsimulated: number | undefined;
  let heuristic: Plan | undefined;
  let ilp: IlpSummary | undefined;
  let ilpMs: number | undefined;
  let lpText: string | undefined;
  let ilpInfeasible: string | undefined;
  let ilpTimedOut = false;
  /** The exact search's fastest proposal, if it made one. */
  let exactPlan: Plan | undefined;
  /** Plans already polished until no move was faster. */
  const polishedToEnd = new Set<Plan>();
  if (opts.method !== 'baseline') {
    const started = process.hrtime.bigint();
    // The baselines are in the heuristic's search space: it never returns a plan predicted slower than them.
    const seeds = heuristicSeeds(perf, opts.finalists, planningStarted + HEURISTIC_SHARE * opts.timeLimitSeconds * 1000);
    if (seeds.best) {
      // The heuristic ends with the simulator's polish of its best layout (polish.ts): moves its
      // estimate cannot judge, such as a host-bound encoder in several slots of a GPU.
      const polished = polishPlacement(perf, seeds.best.scored, { deadlineMs: Date.now() + Math.max(500, HEURISTIC_POLISH_SHARE * opts.timeLimitSeconds * 1000) });
      const scored = polished.moves > 0 ? polished.scored : seeds.best.scored;
      heuristic = toPlan(perf, scored, polished.moves > 0 ? polishedProvenance(seeds.best.provenance) : seeds.best.provenance, profile);
      simulated.set(heuristic, scored);
      if (polished.converged) polishedToEnd.add(heuristic);
      plans.push(heuristic);
    }
    heuristicMs = elapsedMs(started);
    heuristicUnsimulated = seeds.unsimulated;
    if (opts.method === 'ilp' || opts.method === 'all') {
      const ilpStarted = process.hrtime.bigint();
      // The exact search on the simulated time first (it proves the bound), then the throughput ILP
      // proposes more candidates (at least 1 s); the simulator's polish of the best plan has the rest.
      const incumbent = Math.min(Infinity, ...plans.map((p) => p.prediction.iterationMs));
      const exactMs = Math.max(EXACT_MIN_MS, planningStarted + EXACT_END * opts.timeLimitSeconds * 1000 - Date.now());
      exact = await exactSearch(perf, incumbent, { solver: opts.solver, timeLimitMs: exactMs, maxSlots: DEFAULT_MAX_SLOTS });
      const fastest = exact.candidates.reduce<ScoredLayout | undefined>((a, c) => (!a || c.simulation.iterationMs < a.simulation.iterationMs ? c : a), undefined);
      if (fastest) {
        exactPlan = toPlan(perf, fastest, 'ilp', profile);
        simulated.set(exactPlan, fastest);
        plans.push(exactPlan);
      }
      const left = Math.max(1, ILP_END * opts.timeLimitSeconds - (Date.now() - planningStarted) / 1000);
      const tooMany = perf.order.length > MAX_THROUGHPUT_ILP_MODULES;
      if (opts.dumpLp && !tooMany) lpText = toLpText(ilpStats(perf).info.model);
      const r = tooMany
        ? { infeasible: `throughput ILP not run: ${perf.order.length} modules, more than ${MAX_THROUGHPUT_ILP_MODULES} (its GPU patterns grow as the Bell numbers; the exact search still ran)` }
        : await planIlp(perf, { solver: opts.solver, timeLimitSeconds: left, seeds: seeds.layouts, ...(profile ? { profile } : {}) });
      ilpMs = elapsedMs(ilpStarted);
      if ('infeasible' in r) {
        // The throughput ILP only proposes candidates: without an answer of its own the plans already made
        // (and the exact search's bound) stand; with none, its reason is the answer (exit 4 on the clock).
        if (plans.length === 0) throw new MosaicError('timedOut' in r && r.timedOut ? 'E_TIME_LIMIT' : 'E_INFEASIBLE', r.infeasible);
        ilpInfeasible = r.infeasible;
        ilpTimedOut = 'timedOut' in r && r.timedOut === true;
      } else {
        ilp = {
          stats: r.stats,
          provenOptimal: r.provenOptimal,
          ...(r.ilpLinearMs !== undefined ? { linearMs: r.ilpLinearMs } : {}),
          chosen: r.best.chosen,
          plan: r.best.plan,
          ...(seeds.best ? { heuristicLinearMs: perf.microbatches / layoutTheta(perf, seeds.best.layout) } : {}),
        };
        plans.push(r.best.plan);
      }
    }
  }
  if (opts.method !== 'baseline' && plans.length > 0) {
    // The fastest plan so far, refined by the simulator itself (polish.ts), and then the exact search's
    // fastest proposal when that is another plan: the relaxation's colocations often lose to the
    // incumbent only by waits that relocating a short module fixes (PaliGemma-3B on 1×8 H100: 1916 ms
    // polished to 1592 ms, under the heuristic's 1632 ms). The fastest plan first, then the proposal
    // with what is left of the polish time; a polished plan is kept only when it is faster than the one
    // it started from.
    const fastest = plans.reduce((a, b) => (b.prediction.iterationMs < a.prediction.iterationMs ? b : a));
    // A plan polished until no move helped is left out: a second polish would find no move.
    const starts = [fastest, exactPlan].filter((p, i, all): p is Plan => p !== undefined && all.indexOf(p) === i && !polishedToEnd.has(p));
    const polishStart = Date.now();
    const polishMs = Math.max(500, POLISH_SHARE * opts.timeLimitSeconds * 1000);
    for (const start of starts) {
      // Its simulation is reused where the plan was made from one (at thousands of microbatches a simulation takes seconds).
      const scored = simulated.get(start) ?? scorePlacement(perf, [...start.gpus], [...start.replicas]);
      const polished = polishPlacement(perf, scored, { deadlineMs: polishStart + polishMs });
      if (polished.moves > 0) plans.push(toPlan(perf, polished.scored, polishedProvenance(start.provenance), profile));
    }
  }
  if (plans.length === 0) {
    const reasons = baselines.map((b) => ('reason' in b ? `${b.name}: ${b.reason}` : '')).filter(Boolean);
    throw new InfeasibleError(`no plan for ${model.name} fits on ${cluster.name}`, reasons.join('; '));
  }
  const bound = planningBound(perf, exact);
  const withBound = (p: Plan): Plan => ({ ...p, bound: { ...bound, gap: Math.max(0, p.prediction.iterationMs / bound.boundMs - 1) } });
  const bounded = plans.map(withBound);
  const boundedBaselines = baselines.map((b) => ('plan' in b ? { name: b.name, plan: bounded[plans.indexOf(b.plan)] } : b));
  // Ties go to the later plan: the ILP's answer over the heuristic's, the heuristic's over a baseline.
  const best = bounded.reduce((a, b) => (b.prediction.iterationMs <= a.prediction.iterationMs ? b : a));
  const boundedHeuristic = heuristic ? bounded[plans.indexOf(heuristic)] : undefined;
  return {
    perf, plans: bounded, best, baselines: boundedBaselines, bound,
    ...(exact ? { exact } : {}),
    ...(heuristicMs !== undefined ? { heuristicMs } : {}),
    ...(heuristicUnsimulated !== undefined ? { heuristicUnsimulated } : {}),
    ...(boundedHeuristic ? { heuristic: boundedHeuristic } : {}),
    ...(ilp ? { ilp: { ...ilp, plan: bounded[plans.indexOf(ilp.plan)] } } : {}),
    ...(ilpMs !== undefined ? { ilpMs } : {}),
    ...(lpText !== undefined ? { lpText } : {}),
    ...(ilpInfeasible !== undefined ? { ilpInfeasible } : {}),
    ...(ilpTimedOut ? { ilpTimedOut } : {}),
  };
}
