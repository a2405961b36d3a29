import { Command } from 'commander';
import { writeFileAtomic } from '../io/atomic-write';
import { checkOutputFile } from '../io/output-path';
import { buildPerfModel } from '../perf/perf-model';
import { simulateIteration } from '../perf/simulate';
import { formatPlan } from '../report/plan-text';
import { timelineSvg } from '../report/timeline-svg';
import { loadPlan } from '../plan/load-plan';
import { runCommand } from './run-command';

export function showCommand(): Command {
  return new Command('show')
    .description('Print a saved plan and draw its simulated iteration as an SVG timeline')
    .argument('<plan>', 'plan file written by `mosaic plan -o`')
    .option('--svg <file>', 'write the timeline (one lane per GPU slot) as a self-contained SVG')
    .option('--json', 'print the plan JSON after validating it')
    .addHelpText('after', `
Examples:
  $ mosaic plan -m llava-1.5-7b -c h100-1x8 -o plan.json
  $ mosaic show plan.json --svg timeline.svg`)
    .action(async (file: string, flags: { svg?: string; json?: boolean }) => {
      await runCommand(() => {
        if (flags.svg !== undefined) checkOutputFile(flags.svg, '--svg');
        const plan = loadPlan(file);
        if (flags.json) process.stdout.write(JSON.stringify(plan, null, 2) + '\n');
        else for (const line of formatPlan(plan)) process.stdout.write(line + '\n');
        if (flags.svg !== undefined) {
          const perf = buildPerfModel(plan.model, plan.cluster, plan.profile);
          const sim = simulateIteration(perf, plan.gpus, plan.replicas);
          writeFileAtomic(flags.svg, timelineSvg(plan, sim));
          if (!flags.json) process.stdout.write(`wrote ${flags.svg} (${sim.timeline.length} tasks)\n`);
        }
      }, flags.json);
    });
}
