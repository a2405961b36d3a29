import { MosaicError } from '../errors';
import type { PerfModel } from '../perf/perf-model';
import { quotaLevels } from '../perf/timing';
import type { Plan, Provenance, SolverRecord } from '../spec/plan';
import type { Profile } from '../spec/types';
import { CUTOFF_INFEASIBLE_MESSAGE, solveWithFallback, type BackendName, type SolveResult, type SolveStatus } from '../../solver/backends';
import { countsTheta, countsToLayout, decodeCounts, ilpPlan, linearMs, solverRecord } from './throughput/decode';
import { buildPatternIlp, RATE_SCALE, type CountVector, type FormulationInfo } from './throughput/pattern-ilp';
import { enumeratePatterns, patternRates, PatternsOutOfTime, type PatternOptions, type PatternSet } from './throughput/patterns';
import { baselineLayouts } from './baselines';
import { layoutMemoryBound } from './estimate';
import { heuristicCandidates, nodeConfinedSeeds, replicatedSeeds } from './heuristic';
import { explainInfeasible } from './fits';
import type { Layout } from './layout';
import { scoreLayout, type ScoredLayout } from './make-plan';

export type IlpOptions = {
  readonly solver: BackendName;
  /** Budget for all solves together (optimum, memory re-solves and next-best solutions). */
  readonly timeLimitSeconds: number;
  /** Heuristic (and baseline) layouts: they bound the ILP and compete in the final simulation. */
  readonly seeds: readonly Layout[];
  /** Next-best ILP solutions to simulate besides the optimum (no-good cuts), default 2. */
  readonly nextBest?: number;
  /** Pass the best seed as a row θ ≥ θ_seed (measured: see solver/README.md); default false. */
  readonly cutoffAsRow?: boolean;
  readonly patterns?: Partial<PatternOptions>;
  readonly profile?: Profile;
};

export type IlpCandidateName = 'ilp-optimum' | `ilp-next-${number}` | `seed-${number}`;

export type IlpCandidate = {
  readonly name: IlpCandidateName;
  readonly layout: Layout;
  /** Slowest module's total rate under the linear model, microbatches per ms. */
  readonly thetaPerMs: number;
  /** microbatches / θ: the ILP's objective as an iteration time. */
  readonly linearMs: number;
  /** The simulator's iteration time; undefined when the decoded plan does not fit in memory. */
  readonly simulatedMs?: number;
  readonly scored?: ScoredLayout;
  readonly fits: boolean;
};

export type IlpStats = {
  readonly variables: number;
  readonly rows: number;
  readonly patterns: number;
  /** Solve time of the first (optimum) solve, worker start-up included. */
  readonly solveMs: number;
  /** Every solve together (optimum, memory re-solves, next-best). */
  readonly totalSolveMs: number;
  readonly solves: number;
  readonly status: SolveStatus;
  readonly backend: BackendName;
  readonly levelStride: number;
  /** LP relaxation bound as iteration ms (no integer plan can be faster on the linear model). */
  readonly lpBoundMs?: number;
  /** 1 − θ/θ_LP of the ILP's answer: how far from the bound it can be at worst. */
  readonly gapToLpBound?: number;
  readonly notes: readonly string[];
};

export type IlpBest = ScoredLayout & {
  readonly solver: SolverRecord;
  readonly provenance: Provenance;
  readonly chosen: IlpCandidateName;
  readonly plan: Plan;
};

export type IlpResult =
  | {
      readonly best: IlpBest;
      readonly candidates: readonly IlpCandidate[];
      readonly stats: IlpStats;
      /** The ILP's best θ as iteration ms (undefined when it found nothing); the best seed's. */
      readonly ilpLinearMs?: number;
      readonly seedLinearMs?: number;
      /** True when the solver proved its answer optimal for the linear model over the pattern set. */
      readonly provenOptimal: boolean;
    }
  | { readonly infeasible: string; readonly stats?: IlpStats; /** The clock, not the model, stopped it: no answer of its own in time. */ readonly timedOut?: true };

const DEFAULT_NEXT_BEST = 2;
/** Re-solves after a decoded optimum fails the exact memory check. */
const MAX_MEMORY_RESOLVES = 3;
/** The smallest budget worth starting another solve with. */
const MIN_SOLVE_MS = 300;
/** Budget for the LP relaxation that bounds the ILP. */
const LP_BOUND_MS = 3000;
/**
 * Relative gap under which an answer counts as proven optimal (every backend's MIP gap; the LP-bound
 * check): 1e-4, the default of HiGHS and CPLEX. Closing the last 0.01% among near-identical patterns
 * took most of the time on the hardest bundled cases (qwen-audio on 128 GPUs: 9.4 s at 1e-6, 3.7 s
 * at 1e-4), and is far below the performance model's own error.
 */
export const PROVEN_GAP = 1e-4;
/** ... and at most this share of the time limit (the relaxation solves in ~0.1 s on the bundled cases). */
const LP_BOUND_SHARE = 0.25;
/** Each next-best solve may take this many times the first solve (at least NEXT_BEST_MIN_MS). */
const NEXT_BEST_FACTOR = 2;
const NEXT_BEST_MIN_MS = 1000;

/** θ of any layout (microbatches per ms) under the linear model, as `estimateLayoutMs` counts rates. */
export function layoutTheta(perf: PerfModel, layout: Layout): number {
  const rate = new Map<string, number>();
  for (const { pattern, count } of layout) {
    if (count <= 0) continue;
    for (const [m, r] of patternRates(perf, pattern)) rate.set(m, (rate.get(m) ?? 0) + count * r);
  }
  return Math.min(...perf.order.map((m) => rate.get(m) ?? 0));
}

/** Size of the pattern ILP for a case, for the bench: variables, rows, patterns. */
export function ilpStats(perf: PerfModel, patterns: Partial<PatternOptions> = {}): { variables: number; rows: number; patterns: number; levelStride: number; set: PatternSet; info: FormulationInfo } {
  const set = enumeratePatterns(perf, patterns);
  const info = buildPatternIlp(set, perf.gpuCount);
  return { variables: info.variables, rows: info.rows, patterns: set.patterns.length, levelStride: set.levelStride, set, info };
}

/**
 * The heuristic planner's layouts as ILP seeds (baselines that fit, then the heuristic candidates), and
 * the one the heuristic planner would pick: the lowest simulated iteration time that fits in memory,
 * with its true origin: `baseline:<name>` when no heuristic layout beat a baseline, else
 * `heuristic:<name>`. Candidates are simulated in order of promise (the baselines, which the planner has
 * simulated already, the best estimate, the replicated and node-confined seeds, then the other
 * estimates); past `deadlineMs` the rest are left unsimulated (`unsimulated`), so that at thousands of
 * GPUs, where one simulation takes 0.2–0.5 s, the heuristic keeps to its share of the time limit.
 */
export function heuristicSeeds(perf: PerfModel, finalists = 6, deadlineMs = Infinity): { layouts: Layout[]; unsimulated: number; best?: { layout: Layout; scored: ScoredLayout; name: string; provenance: Provenance } } {
  const fitting = baselineLayouts(perf).flatMap((b) => (b.fits ? [{ name: b.name, layout: b.layout }] : []));
  const heuristics = heuristicCandidates(perf, fitting, finalists).map((h) => ({ name: h.name, layout: h.layout }));
  const all = [...fitting.map((b) => ({ name: `baseline:${b.name}`, layout: b.layout })), ...heuristics.slice(0, 1), ...replicatedSeeds(perf), ...nodeConfinedSeeds(perf), ...heuristics.slice(1)];
  let best: { layout: Layout; scored: ScoredLayout; name: string; provenance: Provenance } | undefined;
  let unsimulated = 0;
  for (const [i, c] of all.entries()) {
    // Every baseline and the best estimate are always simulated.
    if (i > fitting.length && best && Date.now() > deadlineMs) {
      unsimulated++;
      continue;
    }
    const scored = scoreLayout(perf, c.layout);
    if (Math.max(...scored.memoryBytes) > perf.capacityBytes) continue;
    const provenance: Provenance = c.name.startsWith('baseline:') ? (c.name as `baseline:${string}`) : `heuristic:${c.name}`;
    // Ties go to the first candidate, except that a heuristic layout as fast as a baseline is the heuristic's.
    const ms = scored.simulation.iterationMs;
    const wins = !best || ms < best.scored.simulation.iterationMs || (ms === best.scored.simulation.iterationMs && best.name.startsWith('baseline:') && !c.name.startsWith('baseline:'));
    if (wins) best = { layout: c.layout, scored, name: c.name, provenance };
  }
  return { layouts: all.map((c) => c.layout), unsimulated, ...(best ? { best } : {}) };
}

const hasValues = (r: SolveResult): r is SolveResult & { values: ReadonlyMap<string, number> } => r.values !== undefined && (r.status === 'optimal' || r.status === 'feasible' || r.status === 'timeLimit');

/**
 * Exact planning over GPU patterns (DESIGN §4.3–4.5): enumerate patterns, solve the pattern ILP seeded
 * by the heuristic, collect the optimum and a few next-best solutions, and let the simulator choose
 * among them and the seeds. Outcomes are values: `{ infeasible }` names the binding constraint.
 */
export async function planIlp(perf: PerfModel, options: IlpOptions): Promise<IlpResult> {
  if (!(options.timeLimitSeconds > 0)) throw new MosaicError('E_INPUT', `Expected a positive time limit in seconds but received ${options.timeLimitSeconds}`);
  const why = explainInfeasible(perf);
  if (why) return { infeasible: `${perf.model.name} does not fit on ${perf.cluster.name}: ${why}` };
  const gpus = perf.gpuCount;
  const microbatches = perf.microbatches;
  const capacity = perf.capacityBytes;
  const deadline = Date.now() + options.timeLimitSeconds * 1000;
  let set: PatternSet;
  try {
    set = enumeratePatterns(perf, { ...options.patterns, deadlineMs: deadline });
  } catch (e) {
    if (!(e instanceof PatternsOutOfTime)) throw e;
    return { infeasible: `the throughput ILP's GPU patterns took more than its ${options.timeLimitSeconds.toFixed(1)} s share of the time limit (${quotaLevels(perf.cluster).length} quota levels, ${perf.order.length} modules); the other plans stand`, timedOut: true };
  }
  const notes = [...set.notes];

  // Seeds: same linear objective; the best bounds the ILP.
  const seeds = options.seeds
    .map((layout, i) => ({ i, layout: layout.filter((e) => e.count > 0), theta: 0 }))
    .filter((s) => s.layout.length > 0 && layoutMemoryBound(perf, s.layout) <= capacity)
    .map((s) => ({ ...s, theta: layoutTheta(perf, s.layout) }));
  const bestSeed = seeds.reduce<(typeof seeds)[number] | undefined>((a, s) => (!a || s.theta > a.theta ? s : a), undefined);

  const exclude: CountVector[] = [];
  let info = buildPatternIlp(set, gpus, exclude);
  let solves = 0;
  let totalSolveMs = 0;
  const solve = async (budgetMs = Infinity): Promise<SolveResult> => {
    // relGap: 'optimal' means within PROVEN_GAP of the best bound, the usual MIP convention.
    info = buildPatternIlp(set, gpus, exclude);
    const cutoff = bestSeed && bestSeed.theta > 0 ? bestSeed.theta * RATE_SCALE * (1 - 1e-9) : undefined;
    const r = await solveWithFallback(info.model, { timeLimitMs: Math.max(MIN_SOLVE_MS, Math.min(budgetMs, deadline - Date.now())), relGap: PROVEN_GAP, ...(cutoff !== undefined ? { cutoff, cutoffAsRow: options.cutoffAsRow ?? false } : {}) }, options.solver);
    solves++;
    totalSolveMs += r.solveMs;
    if (r.message) notes.push(`solve ${solves} (${r.backend}, ${r.status}): ${r.message}`);
    return r;
  };

  const variables = info.variables;
  const rows = info.rows;
  // The LP relaxation's θ bounds every integer answer: it gives a proven gap even when the clock stops
  // the branch and bound (neither backend reports its own bound).
  const relaxed = await solveWithFallback({ ...info.model, variables: info.model.variables.map((v) => ({ ...v, integer: false })) }, { timeLimitMs: Math.min(LP_BOUND_MS, options.timeLimitSeconds * 1000 * LP_BOUND_SHARE) }, options.solver);
  const lpBound = relaxed.status === 'optimal' ? relaxed.objective : undefined;
  let first = await solve();
  const firstSolveMs = first.solveMs;
  const candidates: IlpCandidate[] = [];
  const evaluate = (name: IlpCandidateName, layout: Layout, thetaPerMs: number): IlpCandidate => {
    const scored = scoreLayout(perf, layout);
    const fits = Math.max(...scored.memoryBytes) <= capacity;
    return { name, layout, thetaPerMs, linearMs: linearMs(microbatches, thetaPerMs), fits, ...(fits ? { scored, simulatedMs: scored.simulation.iterationMs } : {}) };
  };

  // The optimum, re-solved with a no-good cut while its exact memory does not fit.
  let optimum: IlpCandidate | undefined;
  const optimumTheta = (): number | undefined => optimum?.thetaPerMs;
  let optimumCounts: Map<number, number> | undefined;
  for (let attempt = 0; hasValues(first); attempt++) {
    const counts = decodeCounts(set, info, first.values);
    const theta = countsTheta(set, counts);
    if (theta <= 0) break;
    const c = evaluate('ilp-optimum', countsToLayout(set, counts), theta);
    if (c.fits || attempt >= MAX_MEMORY_RESOLVES || Date.now() > deadline) {
      if (!c.fits) notes.push(`the ILP's answers kept failing the exact memory check after ${attempt} re-solves`);
      optimum = c.fits ? c : undefined;
      optimumCounts = counts;
      break;
    }
    notes.push(`decoded optimum needs ${(Math.max(...(scoreLayout(perf, c.layout).memoryBytes)) / 2 ** 30).toFixed(1)} GiB on a GPU: cut and re-solved`);
    exclude.push(counts);
    first = await solve();
  }
  const firstStatus = first.status;
  if (!optimumCounts && firstStatus === 'optimal') {
    // Proven: no count vector gives every module a positive rate within G GPUs and the memory tiers.
    const fix = perf.model.optimizer.zeroStage < 3 ? 'use ZeRO stage 3, more GPUs, or a smaller micro-batch' : 'use more GPUs or a smaller micro-batch';
    const stats = makeStats(first);
    return { infeasible: `${perf.model.name} does not fit on ${perf.cluster.name}: no combination of ${set.patterns.length} GPU patterns (at most ${set.maxSlots} slots per GPU) hosts all ${set.modules.length} modules on ${gpus} GPUs within ${perf.cluster.gpu.memoryGiB} GiB each: ${fix}` , stats };
  }
  if (first.status === 'infeasible' && first.message === CUTOFF_INFEASIBLE_MESSAGE) notes.push('no pattern solution beats the best seed (cutoff row infeasible)');

  // Next-best solutions.
  if (optimumCounts) {
    exclude.push(optimumCounts);
    for (let k = 1; k <= (options.nextBest ?? DEFAULT_NEXT_BEST) && deadline - Date.now() > MIN_SOLVE_MS; k++) {
      // A next-best answer is only a candidate for the simulator: an unproven one will do.
      const r = await solve(Math.max(NEXT_BEST_MIN_MS, NEXT_BEST_FACTOR * firstSolveMs));
      if (!hasValues(r)) break;
      const counts = decodeCounts(set, info, r.values);
      const theta = countsTheta(set, counts);
      if (theta <= 0) break;
      candidates.push(evaluate(`ilp-next-${k}`, countsToLayout(set, counts), theta));
      exclude.push(counts);
    }
  }
  if (optimum) candidates.unshift(optimum);

  const stats = makeStats(first);
  // Only the ILP's own answers: a seed that wins stays the heuristic's or baseline's plan, under its own name.
  const fitting = candidates.filter((c) => c.fits && c.scored && c.name.startsWith('ilp-'));
  if (fitting.length === 0) {
    // The seeds are simulated only to say whether the caller's plans stand (at thousands of GPUs each
    // simulation takes a fraction of a second; the heuristic simulated the ones it needed).
    for (const s of seeds) candidates.push(evaluate(`seed-${s.i}`, s.layout, s.theta));
    const seedFits = candidates.some((c) => c.fits);
    if (first.status === 'timeLimit' || first.status === 'error') {
      const why = `the throughput ILP found no plan of its own for ${perf.model.name} on ${perf.cluster.name} within ${options.timeLimitSeconds.toFixed(1)} s (${first.status}${first.message ? `: ${first.message}` : ''})`;
      // A value, not a throw: the planner knows whether other plans stand (then it is a note) or none
      // does (then it is E_TIME_LIMIT, exit 4).
      return { infeasible: seedFits ? why : `${why}, and no heuristic or baseline layout fits`, stats, timedOut: true };
    }
    return { infeasible: seedFits ? `the throughput ILP's answers do not pass the exact memory check (the heuristic's plans do)` : `${perf.model.name} does not fit on ${perf.cluster.name}: neither the ILP's answers nor the heuristic layouts pass the exact memory check`, stats };
  }
  const chosen = fitting.reduce((a, c) => (c.simulatedMs! < a.simulatedMs! ? c : a));
  const meetsBound = optimum !== undefined && lpBound !== undefined && optimum.thetaPerMs * RATE_SCALE >= lpBound * (1 - PROVEN_GAP);
  const provenOptimal = optimum !== undefined && (firstStatus === 'optimal' || meetsBound);
  if (!optimum) notes.push(`the solver returned no better plan than the seeds (${firstStatus}); the best seed stands`);
  else if (bestSeed && bestSeed.theta > optimum.thetaPerMs * (1 + 1e-9)) notes.push('a seed beats the ILP answer on the linear model (it uses patterns outside the enumerated set, or the solve was cut short)');
  const recordStatus: SolveStatus = optimum ? firstStatus : firstStatus === 'optimal' || firstStatus === 'infeasible' ? firstStatus : 'timeLimit';
  // A solve stopped by the clock is still proven optimal when it meets the LP bound.
  const bound = first.status === 'optimal' ? first.objective : lpBound;
  const record = solverRecord(
    { ...first, ...(bound !== undefined ? { bound } : {}), ...(bound !== undefined && optimum ? { gap: Math.max(0, 1 - (optimum.thetaPerMs * RATE_SCALE) / bound) } : {}) },
    microbatches,
    meetsBound ? 'optimal' : recordStatus,
  );
  const provenance: Provenance = 'ilp';
  const plan = ilpPlan(perf, chosen.scored!, record, options.profile);
  return {
    best: { ...chosen.scored!, solver: record, provenance, chosen: chosen.name, plan },
    candidates,
    stats,
    ...(optimum ? { ilpLinearMs: optimum.linearMs } : {}),
    ...(bestSeed ? { seedLinearMs: linearMs(microbatches, bestSeed.theta) } : {}),
    provenOptimal,
  };

  function makeStats(r: SolveResult): IlpStats {
    const theta = optimumTheta();
    return {
      variables, rows, patterns: set.patterns.length, solveMs: firstSolveMs, totalSolveMs, solves, status: r.status, backend: r.backend, levelStride: set.levelStride,
      ...(lpBound !== undefined && lpBound > 0 ? { lpBoundMs: linearMs(microbatches, lpBound / RATE_SCALE) } : {}),
      ...(lpBound !== undefined && lpBound > 0 && theta !== undefined ? { gapToLpBound: Math.max(0, 1 - (theta * RATE_SCALE) / lpBound) } : {}),
      notes,
    };
  }
}
