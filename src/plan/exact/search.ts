/**
 * The exact planner (README.md in this folder, "Search"): a bound on the simulated iteration time of
 * every plan in the space, raised by proving the relaxation infeasible at trial times T, and plans
 * proposed by the relaxation where it is feasible, scored by the simulator. Bisection over T between
 * the best bound proven and the best plan simulated; it stops when the gap is small enough, when the
 * trial budget is spent, or at the time limit, and says which.
 */

import { MosaicError } from '../../errors';
import { solveWithFallback, type BackendName } from '../../../solver/backends';
import type { PerfModel } from '../../perf/perf-model';
import { lowerBoundMs } from '../../perf/lower-bound';
import type { ScoredLayout } from '../make-plan';
import { scorePlacement } from '../make-plan';
import { capacityBytes } from '../fits';
import { decodeSolution } from './decode';
import { formulate } from './formulation';
import { enumeratePatterns, type PatternSet } from './patterns';
import { boundTerms, type BoundTerms } from './terms';

export type ExactOptions = {
  readonly solver: BackendName;
  /** Wall-clock budget for the whole search, pattern enumeration included. */
  readonly timeLimitMs: number;
  /** Stop once the best plan is within this relative gap of the bound (default 0.005). */
  readonly targetGap: number;
  /** Most trial times T (default 10). */
  readonly maxTrials: number;
  readonly maxSlots: number;
};

export const DEFAULT_EXACT_OPTIONS: ExactOptions = { solver: 'highs', timeLimitMs: 10000, targetGap: 0.005, maxTrials: 10, maxSlots: 4 };

export type Trial = {
  readonly T: number;
  readonly outcome: 'infeasible' | 'feasible' | 'unknown';
  readonly solveMs: number;
  /** Simulated time of the plan decoded from a feasible answer (undefined when none decoded or it did not fit). */
  readonly simulatedMs?: number;
  readonly message?: string;
};

export type ExactResult = {
  /** No plan of the space simulates faster than this (ms). */
  readonly boundMs: number;
  /** Plans the relaxation proposed, scored; the caller chooses among these and its own candidates. */
  readonly candidates: readonly ScoredLayout[];
  readonly trials: readonly Trial[];
  readonly patterns: number;
  readonly explicit: readonly string[];
  /** Why the search stopped. */
  readonly stopped: 'gap' | 'trials' | 'timeLimit' | 'patterns';
  readonly notes: readonly string[];
  readonly terms: BoundTerms;
  readonly set: PatternSet;
};

/**
 * Runs the search. `incumbentMs` is the best simulated time among the caller's plans (heuristic,
 * baselines); Infinity when it has none that fits.
 */
export async function exactSearch(perf: PerfModel, incumbentMs: number, options: Partial<ExactOptions> = {}): Promise<ExactResult> {
  const opts = { ...DEFAULT_EXACT_OPTIONS, ...options };
  const started = Date.now();
  const deadline = started + opts.timeLimitMs;
  const terms = boundTerms(perf, opts.maxSlots);
  let lo = lowerBoundMs(perf) + terms.fixedMs;
  let set: PatternSet;
  try {
    set = enumeratePatterns(terms, { maxSlots: opts.maxSlots });
  } catch (err) {
    if (!(err instanceof MosaicError)) throw err;
    const empty: PatternSet = { patterns: [], explicit: [], implicit: perf.order, tiers: [1], maximalOnly: true, notes: [] };
    return { boundMs: lo, candidates: [], trials: [], patterns: 0, explicit: [], stopped: 'patterns', notes: [`no exact search: ${err.message}; the bound is perfect scaling`], terms, set: empty };
  }
  const notes: string[] = [...set.notes];
  const capacity = capacityBytes(perf);
  let best = incumbentMs;
  let feasibleAt = Infinity; // smallest T at which the relaxation was feasible
  const candidates: ScoredLayout[] = [];
  const trials: Trial[] = [];
  let stopped: ExactResult['stopped'] = 'trials';
  const done = () => Number.isFinite(best) && best <= lo * (1 + opts.targetGap);

  for (let k = 0; k < opts.maxTrials; k++) {
    if (done()) {
      stopped = 'gap';
      break;
    }
    if (Date.now() >= deadline) {
      stopped = 'timeLimit';
      break;
    }
    const top = Math.min(best, feasibleAt);
    // First ask at the target itself (one infeasible answer proves the goal); then bisect geometrically.
    const T = k === 0 && Number.isFinite(best) ? best / (1 + opts.targetGap) : Number.isFinite(top) ? Math.sqrt(lo * top) : lo * 2;
    if (!(T > lo)) {
      stopped = 'gap';
      break;
    }
    const f = formulate(terms, set, T);
    if (f.impossible) {
      trials.push({ T, outcome: 'infeasible', solveMs: 0, message: f.impossible });
      lo = T;
      continue;
    }
    const r = await solveWithFallback(f.model, { timeLimitMs: Math.max(200, deadline - Date.now()), relGap: 0.01 }, opts.solver);
    if (r.status === 'infeasible') {
      trials.push({ T, outcome: 'infeasible', solveMs: r.solveMs });
      lo = T;
      continue;
    }
    if (!r.values) {
      trials.push({ T, outcome: 'unknown', solveMs: r.solveMs, message: `${r.status}${r.message ? `: ${r.message}` : ''}` });
      stopped = r.status === 'timeLimit' ? 'timeLimit' : 'trials';
      break;
    }
    feasibleAt = Math.min(feasibleAt, T);
    const plan = decodeSolution(terms, set, f, r.values);
    let simulatedMs: number | undefined;
    if (plan) {
      const scored = scorePlacement(perf, plan.gpus, plan.replicas);
      if (Math.max(...scored.memoryBytes) <= capacity) {
        candidates.push(scored);
        simulatedMs = scored.simulation.iterationMs;
        best = Math.min(best, simulatedMs);
      }
    }
    trials.push({ T, outcome: 'feasible', solveMs: r.solveMs, ...(simulatedMs !== undefined ? { simulatedMs } : {}) });
  }
  if (stopped === 'trials' && done()) stopped = 'gap';
  return { boundMs: lo, candidates, trials, patterns: set.patterns.length, explicit: set.explicit, stopped, notes, terms, set };
}
