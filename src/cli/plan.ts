import { Command } from 'commander';
import { MosaicError } from '../errors';
import { writeFileAtomic } from '../io/atomic-write';
import { checkOutputFile } from '../io/output-path';
import { boundMethod, planModel, type PlanningResult } from '../plan/planner';
import { scaleModel } from '../engine/program';
import { checkProfile } from '../perf/calibration';
import { DEFAULT_OPTIONS, SOLVER_NAMES, type Method } from '../plan/options';
import type { SolverName } from '../spec/types';
import { fmtMs, formatPlan } from '../report/plan-text';
import { startTicker } from '../report/ticker';
import { meaningOf, statusGlossary } from '../spec/words';
import { writeTrace } from '../report/trace';
import type { Plan } from '../spec/plan';
import { bundledNames, resolveCluster, resolveModel, resolveProfile, withBatch } from '../spec/resolve';
import { oneOf, positiveInteger, timeLimit } from './options';
import { runCommand } from './run-command';

type PlanFlags = {
  model: string;
  cluster: string;
  profile?: string;
  method: Method;
  solver: SolverName;
  timeLimit: number;
  globalBatch?: number;
  microBatch?: number;
  output?: string;
  dumpLp?: string;
  trace?: string;
  scale?: number;
  json?: boolean;
};

function scaleOption(value: string): number {
  const n = Number(value);
  if (!(n > 0 && n <= 1)) throw new MosaicError('E_USAGE', `--scale expects a number in (0, 1] but received "${value}"`);
  return n;
}

export function planSummary(plan: Plan) {
  return {
    provenance: plan.provenance,
    iterationMs: plan.prediction.iterationMs,
    samplesPerSecond: plan.prediction.samplesPerSecond,
    lowerBoundRatio: plan.prediction.iterationMs / plan.prediction.lowerBoundMs,
    maxMemoryGiB: Math.max(...plan.prediction.memoryBytesPerGpu) / 2 ** 30,
    slotsPerGpu: plan.gpus.map((g) => g.slots.map((s) => ({ modules: s.modules, smCount: s.smCount }))),
  };
}

function toJson(result: PlanningResult) {
  const best = result.best;
  return {
    model: best.model.name,
    cluster: best.cluster.name,
    perfSource: result.perf.source,
    lowerBoundMs: best.prediction.lowerBoundMs,
    bound: { ...result.bound, gap: best.bound?.gap },
    exact: result.exact ? { patterns: result.exact.patterns, explicitModules: result.exact.explicit, stopped: boundMethod(result.exact.stopped), trials: result.exact.trials, notes: result.exact.notes } : undefined,
    heuristicPlanningMs: result.heuristicMs,
    heuristicUnsimulated: result.heuristicUnsimulated,
    /** The heuristic planner's pick, under its true origin (a baseline:<name> when it found nothing faster). */
    heuristic: result.heuristic ? planSummary(result.heuristic) : undefined,
    ilp: result.ilp
      ? {
          provenOptimal: result.ilp.provenOptimal,
          status: result.ilp.stats.status,
          backend: result.ilp.stats.backend,
          linearMs: result.ilp.linearMs,
          lpBoundMs: result.ilp.stats.lpBoundMs,
          chosen: result.ilp.chosen,
          patterns: result.ilp.stats.patterns,
          variables: result.ilp.stats.variables,
          rows: result.ilp.stats.rows,
          firstSolveMs: result.ilp.stats.solveMs,
          totalSolveMs: result.ilp.stats.totalSolveMs,
          planningMs: result.ilpMs,
          notes: result.ilp.stats.notes,
        }
      : undefined,
    baselines: result.baselines.map((b) => ('plan' in b ? { name: b.name, fits: true, iterationMs: b.plan.prediction.iterationMs } : { name: b.name, fits: false, reason: b.reason })),
    plans: result.plans.map(planSummary),
    speedupOverBaselines: Object.fromEntries(result.baselines.filter((b) => 'plan' in b).map((b) => [b.name, (b as { plan: Plan }).plan.prediction.iterationMs / best.prediction.iterationMs])),
    best,
  };
}

function printText(result: PlanningResult): void {
  const out = (s = '') => process.stdout.write(s + '\n');
  const best = result.best;
  const heuristic = result.heuristic;
  out(`Mosaic plan for ${best.model.name} on ${best.cluster.name}`);
  out(`performance model: ${result.perf.source}${result.perf.source === 'analytic' ? ' (from the GPU spec; pass --profile to calibrate)' : ' (fitted to the profile)'}`);
  out();
  for (const line of formatPlan(best)) out(line);
  out();
  out('compared with:');
  for (const b of result.baselines) {
    if ('plan' in b) {
      const ratio = b.plan.prediction.iterationMs / best.prediction.iterationMs;
      out(`  baseline ${b.name.padEnd(11)} ${fmtMs(b.plan.prediction.iterationMs).padStart(9)} ms   best plan is ${ratio.toFixed(3)}× faster`);
    } else out(`  baseline ${b.name.padEnd(11)} does not fit: ${b.reason}`);
  }
  if (heuristic === best && heuristic.provenance.startsWith('baseline:')) out(`  heuristic (found nothing faster than ${heuristic.provenance})`);
  if (heuristic && heuristic !== best) {
    const found = heuristic.provenance.startsWith('baseline:') ? `heuristic (found nothing faster than ${heuristic.provenance})` : `${heuristic.provenance}`;
    out(`  ${found} ${fmtMs(heuristic.prediction.iterationMs)} ms   best plan is ${(heuristic.prediction.iterationMs / best.prediction.iterationMs).toFixed(3)}× faster`);
  }
  if (result.heuristicMs !== undefined) {
    const left = result.heuristicUnsimulated ? ` (${result.heuristicUnsimulated} of its candidates left unsimulated when its share of the time limit ran out; a longer --time-limit simulates them)` : '';
    out(`  heuristic planning took ${result.heuristicMs.toFixed(0)} ms${left}`);
  }
  if (result.ilp) {
    const s = result.ilp.stats;
    const proof = result.ilp.provenOptimal ? 'proven (its linear throughput model solved to optimality)' : `not proven (${s.status}: ${meaningOf(s.status)})`;
    out(`  throughput ILP (${s.backend}): ${proof} over ${s.patterns} GPU patterns; simulated ${fmtMs(result.ilp.plan.prediction.iterationMs)} ms; ${result.ilpMs !== undefined ? result.ilpMs.toFixed(0) : '-'} ms`);
    for (const n of s.notes) out(`    note: ${n}`);
  }
  if (result.ilpInfeasible) out(`  throughput ILP: ${result.ilpInfeasible}${result.ilpTimedOut ? '; the other plans stand' : ''}`);
  if (result.exact) {
    const e = result.exact;
    const proven = e.trials.filter((t) => t.outcome === 'infeasible').length;
    if (e.stopped === 'enumerated') out(`  exact search: ${boundMethod(e.stopped)}`);
    else out(`  exact search: ${e.trials.length} trial times over ${e.patterns} GPU patterns, ${proven} proven infeasible; ${boundMethod(e.stopped)}`);
    // How the relaxation was loosened to stay under its pattern cap (levels grouped, modules demoted).
    for (const n of e.notes) out(`    note: ${n}`);
  }
}

export function planCommand(): Command {
  return new Command('plan')
    .description('Plan which modules share which GPUs with which SM quotas, and predict the iteration time')
    .requiredOption('-m, --model <file|name>', `model spec file, or a bundled model: ${bundledNames('models').join(', ')}`)
    .requiredOption('-c, --cluster <file|name>', `cluster spec file, a bundled cluster (${bundledNames('clusters').join(', ')}), or local-cpu`)
    .option('-p, --profile <file>', 'profile from `mosaic profile` to calibrate the performance model (default: analytic from the GPU spec)')
    .option('--method <method>', 'heuristic | baseline | ilp (exact, seeded by the heuristic) | all', oneOf('--method', ['heuristic', 'baseline', 'ilp', 'all'] as const), DEFAULT_OPTIONS.method)
    .option('--solver <name>', 'ILP backend: highs (HiGHS, MIT) | glpk (glpk.js, GPL-3.0, optional) | jslp (javascript-lp-solver, Unlicense)', oneOf('--solver', SOLVER_NAMES), DEFAULT_OPTIONS.solver)
    .option('--time-limit <seconds>', 'time limit for the ILP (all solves together); the best plan found so far is returned', timeLimit('--time-limit'), DEFAULT_OPTIONS.timeLimitSeconds)
    .option('--dump-lp <file>', 'write the pattern ILP in LP format (CPLEX LP; readable by glpsol, HiGHS, CBC) for debugging')
    .option('--global-batch <n>', "override the model's global batch", positiveInteger('--global-batch'))
    .option('--micro-batch <n>', "override the model's micro-batch", positiveInteger('--micro-batch'))
    .option('--scale <s>', 'plan the model shrunk by s in (0, 1] as `mosaic profile`/`train` replay it (widths, tokens, layers), e.g. a 7B model on local-cpu', scaleOption)
    .option('-o, --output <file>', 'write the best plan as JSON (atomically) for `mosaic show` and `mosaic train`')
    .option('--trace <file>', 'write the simulated iteration as a Chrome/Perfetto trace (JSON; open in ui.perfetto.dev or chrome://tracing): one process per GPU, one thread per slot, compute and communication as separate categories')
    .option('--json', 'print a machine-readable report instead of text')
    .addHelpText(
      'after',
      `
Examples:
  $ mosaic plan --model llava-1.5-7b --cluster h100-1x8
  $ mosaic plan -m datasets/models/qwen2-vl-7b.json -c h100-4x8 --method all --json
  $ mosaic plan -m internvl-chat-v1.5 -c a100-1x8 -o plan.json && mosaic show plan.json --svg timeline.svg
  $ mosaic plan -m imagebind-llm -c h100-4x8 --method ilp --solver jslp --time-limit 30 --dump-lp model.lp
  $ mosaic plan -m imagebind-llm -c h100-4x8 --trace iteration.trace.json
  $ mosaic plan -m llava-1.5-7b -c local-cpu --scale 0.015625 -o cpu-plan.json && mosaic train --plan cpu-plan.json

Methods: baseline = temporal multiplexing (sequential, exclusive GPU split); heuristic = greedy colocation,
quota water-filling, local search (milliseconds to seconds); ilp = exact over GPU patterns × quota levels,
seeded and bounded by the heuristic, with the next-best solutions re-scored by the simulator; all = every one.

Words in the output (one vocabulary for text, --json, plan files and batch reports):
${statusGlossary().join('\n')}

Exit codes: 0 ok, 1 internal error, 2 usage or invalid input, 3 no plan fits (the reason is printed).`,
    )
    .action(async (flags: PlanFlags) => {
      await runCommand(async () => {
        // Output paths are checked before any work: a long plan must not end on a folder given as -o.
        if (flags.output !== undefined) checkOutputFile(flags.output, '-o');
        if (flags.dumpLp !== undefined) checkOutputFile(flags.dumpLp, '--dump-lp');
        if (flags.trace !== undefined) checkOutputFile(flags.trace, '--trace');
        const model = scaleModel(withBatch(resolveModel(flags.model), flags.globalBatch, flags.microBatch), flags.scale ?? 1);
        const cluster = resolveCluster(flags.cluster);
        const profile = flags.profile ? resolveProfile(flags.profile) : undefined;
        // The same checks as `mosaic calibrate`: the profile's model, device and modules must match.
        if (profile) checkProfile(model, cluster, profile, flags.profile!);
        if (flags.dumpLp !== undefined && flags.method !== 'ilp' && flags.method !== 'all') throw new MosaicError('E_USAGE', '--dump-lp needs --method ilp or all');
        const ticker = flags.method === 'ilp' || flags.method === 'all' ? startTicker(`planning ${model.name} on ${cluster.name} (ILP time limit ${flags.timeLimit} s)`) : undefined;
        let result: PlanningResult;
        try {
          result = await planModel(model, cluster, profile, { method: flags.method, solver: flags.solver, timeLimitSeconds: flags.timeLimit, dumpLp: flags.dumpLp !== undefined });
        } finally {
          ticker?.stop();
        }
        if (flags.dumpLp !== undefined && result.lpText !== undefined) writeFileAtomic(flags.dumpLp, result.lpText);
        // The plan says which scale it was made at, so that a replay reports it truthfully.
        if (flags.scale !== undefined && flags.scale !== 1) result = { ...result, best: { ...result.best, scale: flags.scale } };
        if (flags.output !== undefined) writeFileAtomic(flags.output, JSON.stringify(result.best, null, 2) + '\n');
        const traced = flags.trace !== undefined ? writeTrace(flags.trace, result.best) : 0;
        if (flags.json) process.stdout.write(JSON.stringify(toJson(result), null, 2) + '\n');
        else {
          printText(result);
          if (flags.output) process.stdout.write(`\nwrote ${flags.output}\n`);
          if (flags.trace) process.stdout.write(`wrote ${flags.trace} (${traced} events; open it in ui.perfetto.dev or chrome://tracing)\n`);
        }
      }, flags.json);
    });
}
