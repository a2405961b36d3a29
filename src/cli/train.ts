import { Command } from 'commander';
import { EXIT, MosaicError } from '../errors';
import { cudaRunGraph, EngineError } from '../engine/native';
import { trainPlan, type IterationReport, type TrainReport } from '../engine/train';
import { loadPlan } from '../plan/load-plan';
import type { Plan } from '../spec/plan';
import { oneOf, positiveInteger, positiveNumber } from './options';
import { runCommand } from './run-command';
import { median } from '../util/stats';

type TrainFlags = {
  plan: string;
  device: 'cpu' | 'cuda';
  iterations: number;
  logEvery?: number;
  scale?: number;
  seed: number;
  json?: boolean;
};

/** Why `--device cuda` cannot train, in one line, from the engine's own answer. */
function cudaRefusal(): MosaicError {
  let reason = 'the CUDA backend has no op kernels';
  try {
    cudaRunGraph({ contexts: [], tasks: [], buffers: [] });
  } catch (err) {
    if (err instanceof EngineError) reason = `${err.code}: ${err.message.split('\n')[0]}`;
  }
  return new MosaicError(
    'E_NOT_IMPLEMENTED',
    `--device cuda cannot train: the CUDA backend splits SMs into green contexts but has no op kernels yet (E_CUDA_NO_KERNELS); here the engine says ${reason}. Use --device cpu with a plan made for --cluster local-cpu.`,
  );
}

const ms = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

function meanBy(iters: readonly IterationReport[], pick: (r: IterationReport) => Readonly<Record<string, number>>, module: string): number {
  return iters.length === 0 ? 0 : iters.reduce((s, r) => s + (pick(r)[module] ?? 0), 0) / iters.length;
}

function summary(plan: Plan, report: TrainReport) {
  const modules = plan.model.modules.map((m) => m.name);
  const last = report.iterations[report.iterations.length - 1];
  return {
    model: plan.model.name,
    provenance: plan.provenance,
    device: 'cpu',
    /** Scale of the replay relative to the original model: the plan's own (`plan --scale`) times the replay's. */
    scale: (plan.scale ?? 1) * report.scale,
    planScale: plan.scale ?? 1,
    replayScale: report.scale,
    builtin: report.builtin,
    iterationsRun: report.iterations.length,
    cancelled: report.cancelled,
    meanIterationMs: report.meanIterationMs,
    // The median is robust to the first iteration (threads start, caches fill) and to other processes.
    medianIterationMs: median(report.iterations.map((r) => r.wallMs)),
    meanHostIterationMs: report.iterations.length > 0 ? report.iterations.reduce((a, r) => a + r.hostMs, 0) / report.iterations.length : 0,
    predictedIterationMs: report.predictedIterationMs,
    measuredOverPredicted: report.predictedIterationMs > 0 ? report.meanIterationMs / report.predictedIterationMs : null,
    ...(report.builtin && report.iterations.length > 0 ? { firstLoss: report.iterations[0]!.loss, lastLoss: last?.loss } : {}),
    flopsPerIteration: report.flopsPerIteration,
    modules: Object.fromEntries(
      modules.map((m) => [
        m,
        {
          busyMs: meanBy(report.iterations, (r) => r.busyMsByModule, m),
          utilisation: meanBy(report.iterations, (r) => r.utilisationByModule, m),
          predictedBusyMs: report.predictedBusyMsByModule[m] ?? 0,
        },
      ]),
    ),
    iterations: report.iterations,
  };
}

/** The replay's scale relative to the original model, and how it came about when the plan was itself made at a scale. */
function replayText(plan: Plan, report: TrainReport): string {
  const planScale = plan.scale ?? 1;
  const gflop = `${(report.flopsPerIteration / 1e9).toFixed(2)} GFLOP per iteration; the prediction is the simulator's for the scaled model`;
  if (planScale === 1) return `shape-accurate replay at scale ${report.scale} (${gflop})`;
  const how = `the plan was made at --scale ${planScale}${report.scale !== 1 ? ` and replayed at ${report.scale} of that` : ''}`;
  return `shape-accurate replay at scale ${planScale * report.scale} of the original model (${how}; ${gflop})`;
}

/** Default interval between iteration lines: at most about 20 lines, whatever --iterations is. */
export function defaultLogEvery(iterations: number): number {
  return Math.max(1, Math.ceil(iterations / 20));
}

function printSummary(plan: Plan, report: TrainReport): void {
  const out = (s = ''): void => void process.stdout.write(s + '\n');
  const s = summary(plan, report);
  out();
  if (report.cancelled) out(`interrupted: ${report.iterations.length} iteration(s) completed before Ctrl-C`);
  out('per module (mean per iteration; busy time summed over replicas):');
  const width = Math.max(...Object.keys(s.modules).map((m) => m.length));
  for (const [m, v] of Object.entries(s.modules)) {
    out(`  ${m.padEnd(width)}  busy ${ms(v.busyMs).padStart(8)} ms   utilisation ${(100 * v.utilisation).toFixed(0).padStart(3)}%   predicted busy ${ms(v.predictedBusyMs).padStart(8)} ms`);
  }
  out(`iteration time: measured ${ms(report.meanIterationMs)} ms (mean of ${report.iterations.length}; median ${ms(s.medianIterationMs)} ms), predicted ${ms(report.predictedIterationMs)} ms` +
    (report.predictedIterationMs > 0 && report.iterations.length > 0 ? `, measured/predicted ${(report.meanIterationMs / report.predictedIterationMs).toFixed(2)}` : ''));
  if (report.iterations.length > 0) {
    out(`host loop: ${ms(s.meanHostIterationMs)} ms per iteration (the engine's run plus zeroing gradients, synthetic data, TS validation of the graph and N-API decode, which the prediction leaves out)`);
  }
  if (report.builtin && s.firstLoss !== undefined && s.lastLoss !== undefined) out(`loss: ${s.firstLoss.toFixed(4)} -> ${s.lastLoss.toFixed(4)}`);
  out(
    report.builtin
      ? `built-in model trained for real (${(report.flopsPerIteration / 1e6).toFixed(1)} MFLOP per iteration)`
      : replayText(plan, report),
  );
}

export function trainCommand(): Command {
  return new Command('train')
    .description('Run a plan on the execution engine: train the built-in model for real, or replay a bundled model at a reduced scale')
    .requiredOption('--plan <file>', 'plan file written by `mosaic plan -o` for a cpu cluster (--cluster local-cpu)')
    .option('--device <device>', 'cpu | cuda (cuda has SM partitions but no op kernels yet, so it refuses)', oneOf('--device', ['cpu', 'cuda'] as const), 'cpu')
    .option('--iterations <n>', 'training iterations to run', positiveInteger('--iterations'), 10)
    .option('--scale <s>', 'shrink widths, tokens and layers by this factor in (0, 1] (default: 1 for builtin-mm, else the largest power of 1/2 that keeps an iteration near 4 GFLOP)', positiveNumber('--scale'))
    .option('--log-every <n>', 'print one line every n iterations (and the last); default: at most about 20 lines', positiveInteger('--log-every'))
    .option('--seed <n>', 'seed for weights and data', positiveInteger('--seed'), 1)
    .option('--json', 'print a machine-readable report instead of text')
    .addHelpText(
      'after',
      `
Examples:
  $ mosaic plan --model builtin-mm --cluster local-cpu -o plan.json
  $ mosaic train --plan plan.json --iterations 200                 # about 20 lines; --log-every 1 for all
  $ mosaic plan -m sd-1.5 -c local-cpu -o sd.json && mosaic train --plan sd.json --iterations 3 --json   # a replay at reduced scale

Ctrl-C stops at the next op and reports the iterations that completed.
Exit codes: 0 ok, 1 internal error, 2 usage or invalid input (also --device cuda, and a plan that cannot run here), ${EXIT.interrupted} interrupted by Ctrl-C.`,
    )
    .action(async (flags: TrainFlags) => {
      await runCommand(async () => {
        if (flags.device === 'cuda') throw cudaRefusal();
        if (flags.scale !== undefined && flags.scale > 1) throw new MosaicError('E_USAGE', `--scale expects a number in (0, 1] but received "${flags.scale}"`);
        const plan = loadPlan(flags.plan);
        const controller = new AbortController();
        const onSigint = (): void => controller.abort();
        process.on('SIGINT', onSigint);
        let report: TrainReport;
        try {
          const logEvery = flags.logEvery ?? defaultLogEvery(flags.iterations);
          if (!flags.json) process.stdout.write(`training ${plan.model.name} (${plan.provenance}${plan.scale !== undefined && plan.scale !== 1 ? `, planned at --scale ${plan.scale}` : ''}) on the CPU backend, ${flags.iterations} iteration(s)${logEvery > 1 ? `, a line every ${logEvery}` : ''}\n`);
          report = await trainPlan(plan, {
            iterations: flags.iterations,
            seed: flags.seed,
            signal: controller.signal,
            ...(flags.scale !== undefined ? { scale: flags.scale } : {}),
            onIteration: (r) => {
              if (flags.json) return;
              const n = r.iteration + 1;
              if (n % logEvery !== 0 && n !== 1 && n !== flags.iterations) return;
              process.stdout.write(`iter ${String(r.iteration + 1).padStart(4)}  ${ms(r.wallMs).padStart(8)} ms${r.loss !== undefined ? `  loss ${r.loss.toFixed(4)}` : ''}\n`);
            },
          });
        } finally {
          process.removeListener('SIGINT', onSigint);
        }
        if (flags.json) process.stdout.write(JSON.stringify(summary(plan, report), null, 2) + '\n');
        else printSummary(plan, report);
        if (report.cancelled) process.exitCode = EXIT.interrupted;
      }, flags.json);
    });
}
