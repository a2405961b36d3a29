import { Command } from 'commander';
import { MosaicError } from '../errors';
import { buildPerfModel } from '../perf/perf-model';
import { simulateIteration } from '../perf/simulate';
import { planLowerBound } from '../plan/exact/plan-bound';
import { exactSearch } from '../plan/exact/search';
import { boundTerms } from '../plan/exact/terms';
import { DEFAULT_MAX_SLOTS, DEFAULT_OPTIONS, SOLVER_NAMES } from '../plan/options';
import type { SolverName } from '../spec/types';
import { boundMethod, spaceDescription } from '../plan/planner';
import { moduleBreakdown } from '../perf/breakdown';
import { boundSentence, fmtMs, formatModules } from '../report/plan-text';
import { writeTrace } from '../report/trace';
import { checkOutputFile } from '../io/output-path';
import { checkProfile } from '../perf/calibration';
import { loadPlan } from '../plan/load-plan';
import { resolveProfile } from '../spec/resolve';
import { oneOf, timeLimit } from './options';
import { runCommand } from './run-command';

type ScoreFlags = { profile?: string; trace?: string; json?: boolean; timeLimit: number; solver: SolverName; bound: boolean };

export function scoreCommand(): Command {
  return new Command('score')
    .description("Re-simulate any plan file (a hand-written one too) under the current performance model: iteration time, per-module compute, communication and idle time, the plan's own lower bound, and the bound over every plan of the space with this plan's gap to it")
    .argument('<plan>', 'plan file (from `mosaic plan -o`, or written by hand with provenance "hand" and no prediction)')
    .option('-p, --profile <file>', "calibrate with this profile instead of the one embedded in the plan")
    .option('--time-limit <seconds>', 'time limit for the exact search that proves the bound over the space', timeLimit('--time-limit'), DEFAULT_OPTIONS.timeLimitSeconds)
    .option('--solver <name>', 'MILP backend for the bound: highs | glpk | jslp', oneOf('--solver', SOLVER_NAMES), DEFAULT_OPTIONS.solver)
    .option('--no-bound', 'skip the exact search: report only this plan\'s own lower bound')
    .option('--trace <file>', 'write the simulated iteration as a Chrome/Perfetto trace (JSON; open in ui.perfetto.dev or chrome://tracing): one process per GPU, one thread per slot, compute and communication as separate categories')
    .option('--json', 'print a machine-readable report')
    .addHelpText('after', `
Examples:
  $ mosaic plan -m imagebind-llm -c h100-4x8 -o plan.json && mosaic score plan.json
  $ mosaic score plan.json --json
  $ mosaic score plan.json --no-bound

Per module: compute is its busiest replica's task time (forward, backward, optimizer step); all-reduce
its gradient synchronisation (time, bytes each replica sends, link: NVLink inside a node or
inter-node); activations sent what it sends to consumers on other GPUs; idle the iteration less
compute and all-reduce. "own bound" is what no split of this plan's layout beats by the rows of
src/plan/exact/README.md; "no plan in the space simulates faster than" gives the bound over every plan of the space.

Exit codes: 0 ok, 1 internal error, 2 usage or invalid plan (file and problem named).`)
    .action(async (file: string, flags: ScoreFlags) => {
      await runCommand(async () => {
        if (flags.trace !== undefined) checkOutputFile(flags.trace, '--trace');
        const plan = loadPlan(file);
        const profile = flags.profile ? resolveProfile(flags.profile) : plan.profile;
        if (flags.profile && profile) checkProfile(plan.model, plan.cluster, profile, flags.profile);
        const perf = buildPerfModel(plan.model, plan.cluster, profile);
        const sim = simulateIteration(perf, plan.gpus, plan.replicas);
        const traced = flags.trace ? writeTrace(flags.trace, plan, sim) : 0;
        const own = planLowerBound(boundTerms(perf, DEFAULT_MAX_SLOTS), plan.gpus, plan.replicas);
        const modules = moduleBreakdown(perf.order, sim, plan.replicas);
        let space: { boundMs: number; gap: number; space: string; method: string } | undefined;
        if (flags.bound) {
          const maxSlots = Math.max(DEFAULT_MAX_SLOTS, ...plan.gpus.map((g) => g.slots.length));
          if (maxSlots > DEFAULT_MAX_SLOTS) throw new MosaicError('E_INPUT', `${file}: a GPU has ${maxSlots} slots; the bound covers plans with at most ${DEFAULT_MAX_SLOTS} (use --no-bound)`);
          const exact = await exactSearch(perf, sim.iterationMs, { solver: flags.solver, timeLimitMs: flags.timeLimit * 1000 });
          space = { boundMs: exact.boundMs, gap: Math.max(0, sim.iterationMs / exact.boundMs - 1), space: spaceDescription(perf, DEFAULT_MAX_SLOTS), method: boundMethod(exact.stopped) };
        }
        const report = { plan: file, model: plan.model.name, cluster: plan.cluster.name, provenance: plan.provenance, perfSource: perf.source, iterationMs: sim.iterationMs, recordedIterationMs: plan.prediction.iterationMs, ownBound: own, ...(space ? { bound: space } : {}), modules };
        if (flags.json) {
          process.stdout.write(JSON.stringify(report, null, 2) + '\n');
          return;
        }
        const out = (s = '') => process.stdout.write(s + '\n');
        out(`${file}: ${plan.provenance} plan of ${plan.model.name} on ${plan.cluster.name}, performance model ${perf.source}`);
        out(`  iteration ${fmtMs(sim.iterationMs)} ms${Math.abs(sim.iterationMs - plan.prediction.iterationMs) > 1e-6 * sim.iterationMs ? ` (the file recorded ${fmtMs(plan.prediction.iterationMs)} ms)` : ''}`);
        for (const line of formatModules(modules, plan.cluster.device, sim.iterationMs)) out(line);
        out(`  own bound ${fmtMs(own.boundMs)} ms (${own.binding})`);
        if (space) {
          out(`  ${boundSentence(space.boundMs, space.gap, space.method)}`);
          out(`  space: ${space.space}`);
        }
        if (flags.trace) out(`wrote ${flags.trace} (${traced} events; open it in ui.perfetto.dev or chrome://tracing)`);
      }, flags.json);
    });
}
