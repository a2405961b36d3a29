import { Command } from 'commander';
import { writeFileAtomic } from '../io/atomic-write';
import { checkOutputFile } from '../io/output-path';
import { moduleBreakdown } from '../perf/breakdown';
import { buildPerfModel } from '../perf/perf-model';
import { simulateIteration } from '../perf/simulate';
import { formatPlan } from '../report/plan-text';
import { timelineSvg } from '../report/timeline-svg';
import { writeTrace } from '../report/trace';
import { loadPlan } from '../plan/load-plan';
import type { Plan } from '../spec/plan';
import { runCommand } from './run-command';

export function showCommand(): Command {
  return new Command('show')
    .description('Print a saved plan and draw its simulated iteration as an SVG timeline or a Chrome/Perfetto trace')
    .argument('<plan>', 'plan file written by `mosaic plan -o`')
    .option('--svg <file>', 'write the timeline (one lane per GPU slot) as a self-contained SVG')
    .option('--trace <file>', 'write the simulated iteration as a Chrome/Perfetto trace (JSON; open in ui.perfetto.dev or chrome://tracing): one process per GPU, one thread per slot, compute and communication as separate categories')
    .option('--json', 'print the plan JSON after validating it')
    .addHelpText('after', `
Examples:
  $ mosaic plan -m llava-1.5-7b -c h100-1x8 -o plan.json
  $ mosaic show plan.json --svg timeline.svg
  $ mosaic show plan.json --trace iteration.trace.json   # open in ui.perfetto.dev`)
    .action(async (file: string, flags: { svg?: string; trace?: string; json?: boolean }) => {
      await runCommand(() => {
        if (flags.svg !== undefined) checkOutputFile(flags.svg, '--svg');
        if (flags.trace !== undefined) checkOutputFile(flags.trace, '--trace');
        const loaded = loadPlan(file);
        const withTraffic = (): Plan => {
          // Plan files from before the per-module communication fields get them from a simulation.
          if (loaded.prediction.stages.every((s) => s.communication)) return loaded;
          const perf = buildPerfModel(loaded.model, loaded.cluster, loaded.profile);
          const stages = moduleBreakdown(perf.order, simulateIteration(perf, loaded.gpus, loaded.replicas), loaded.replicas);
          return { ...loaded, prediction: { ...loaded.prediction, stages } };
        };
        const plan = flags.json ? loaded : withTraffic();
        if (flags.json) process.stdout.write(JSON.stringify(plan, null, 2) + '\n');
        else for (const line of formatPlan(plan)) process.stdout.write(line + '\n');
        if (flags.svg || flags.trace) {
          const perf = buildPerfModel(plan.model, plan.cluster, plan.profile);
          const sim = simulateIteration(perf, plan.gpus, plan.replicas);
          if (flags.svg) {
            writeFileAtomic(flags.svg, timelineSvg(plan, sim));
            if (!flags.json) process.stdout.write(`wrote ${flags.svg} (${sim.timeline.length} tasks)\n`);
          }
          if (flags.trace) {
            const n = writeTrace(flags.trace, plan, sim);
            if (!flags.json) process.stdout.write(`wrote ${flags.trace} (${n} events; open it in ui.perfetto.dev or chrome://tracing)\n`);
          }
        }
      }, flags.json);
    });
}
