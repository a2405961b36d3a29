import { Command } from 'commander';
import { readJsonFile } from '../spec/json-file';
import { EXIT_CODES, MosaicError } from '../errors';
import { compareCase, type CaseReport, type SuiteCase } from '../plan/compare';
import { DEFAULT_OPTIONS, SOLVER_NAMES } from '../plan/options';
import type { SolverName } from '../spec/types';
import { boundSentence, fmtMs, formatModules } from '../report/plan-text';
import { startTicker } from '../report/ticker';
import { bundledNames } from '../spec/resolve';
import { meaningOf } from '../spec/words';
import { oneOf, positiveInteger, timeLimit } from './options';
import { runCommand } from './run-command';

export { compareCase, type CaseReport, type SuiteCase } from '../plan/compare';

type CompareFlags = {
  model?: string;
  cluster?: string;
  suite?: string;
  solver: SolverName;
  timeLimit: number;
  globalBatch?: number;
  microBatch?: number;
  json?: boolean;
};

function readSuite(file: string): SuiteCase[] {
  // One line with FILE:LINE:COL for malformed JSON, as for every other input.
  const data = readJsonFile(file);
  if (!Array.isArray(data) || data.length === 0) throw new MosaicError('E_INPUT', `${file}: expected a non-empty JSON list of {model, cluster, globalBatch?, microBatch?}`);
  return data.map((c, i) => {
    const ok = c && typeof c === 'object' && typeof c.model === 'string' && typeof c.cluster === 'string' &&
      (c.globalBatch === undefined || (Number.isInteger(c.globalBatch) && c.globalBatch > 0)) &&
      (c.microBatch === undefined || (Number.isInteger(c.microBatch) && c.microBatch > 0));
    if (!ok) throw new MosaicError('E_INPUT', `${file}: /${i}: expected {model: string, cluster: string, globalBatch?: positive integer, microBatch?: positive integer}`);
    return c as SuiteCase;
  });
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

function printCase(r: CaseReport): void {
  const out = (s = '') => process.stdout.write(s + '\n');
  out(`${r.model} on ${r.cluster}`);
  if (!r.fits) {
    out(`  does not fit: ${r.reason}`);
    return;
  }
  if (r.bestBaseline) out(`  best baseline   ${r.bestBaseline.name.padEnd(10)} ${fmtMs(r.bestBaseline.iterationMs).padStart(10)} ms`);
  out(`  ${`heuristic (${r.heuristic.provenance})`.padEnd(26)} ${fmtMs(r.heuristic.iterationMs).padStart(10)} ms   linear ${r.heuristic.linearMs !== undefined ? fmtMs(r.heuristic.linearMs) : '-'} ms   ${r.heuristic.planningMs.toFixed(0)} ms to plan`);
  if (r.ilp) out(`  throughput ILP`.padEnd(28) + `${fmtMs(r.ilp.iterationMs).padStart(10)} ms   linear ${r.ilp.linearMs !== undefined ? fmtMs(r.ilp.linearMs) : '-'} ms   LP bound ${r.ilp.lpBoundMs !== undefined ? fmtMs(r.ilp.lpBoundMs) : '-'} ms`);
  else out(`  throughput ILP: no plan (${r.ilpMissing})`);
  out(`  final plan (${r.best.provenance})`.padEnd(28) + `${fmtMs(r.best.iterationMs).padStart(10)} ms`);
  for (const line of formatModules(r.best.modules, r.device, r.best.iterationMs)) out(`  ${line}`);
  out(`  ${boundSentence(r.lowerBoundMs, r.best.gap, r.best.boundMethod).replace('this plan', 'the final plan')}`);
  if (r.speedupOverBaseline) out(`  speedup over ${r.bestBaseline!.name}: heuristic ${r.speedupOverBaseline.heuristic.toFixed(3)}×${r.speedupOverBaseline.ilp !== undefined ? `, throughput ILP ${r.speedupOverBaseline.ilp.toFixed(3)}×` : ''}, final plan ${r.speedupOverBaseline.best.toFixed(3)}×`);
  out(`  heuristic gap to optimal: at least ${pct(r.heuristicGap.simulated)} (simulated, against the final plan), at most ${pct(r.heuristicGap.toBound)} (against the lower bound)${r.heuristicGap.linear !== undefined ? `; on the throughput ILP's linear model ${pct(r.heuristicGap.linear)}` : ''}`);
  if (!r.ilp) return;
  out(`  solver ${r.ilp.backend}: ${r.ilp.status}${r.ilp.provenOptimal ? ' (proven: its linear objective solved to optimality)' : ` (not proven: ${meaningOf(r.ilp.status)})`}, first solve ${r.ilp.solveMs.toFixed(0)} ms, all solves ${r.ilp.totalSolveMs.toFixed(0)} ms, ILP planning ${r.ilp.planningMs.toFixed(0)} ms; ${r.ilp.patterns} patterns, ${r.ilp.variables} variables, ${r.ilp.rows} rows`);
  for (const n of r.ilp.notes) out(`  note: ${n}`);
}

export function compareCommand(): Command {
  return new Command('compare')
    .description('Heuristic vs the final plan (proven within a gap of optimal) vs the throughput ILP vs baselines vs the lower bound, on one case or a suite: speedups, gaps, solve times')
    .option('-m, --model <file|name>', `model spec file, or a bundled model: ${bundledNames('models').join(', ')}`)
    .option('-c, --cluster <file|name>', `cluster spec file, or a bundled cluster: ${bundledNames('clusters').join(', ')}`)
    .option('--suite <file>', 'JSON list of cases: [{"model": "llava-1.5-7b", "cluster": "h100-1x8", "globalBatch": 256, "microBatch": 4}, ...]')
    .option('--solver <name>', 'ILP backend: highs (HiGHS, MIT) | glpk (glpk.js, GPL-3.0, optional) | jslp (javascript-lp-solver, Unlicense)', oneOf('--solver', SOLVER_NAMES), DEFAULT_OPTIONS.solver)
    .option('--time-limit <seconds>', 'time limit for planning each case (the exact search, the throughput ILP and the polish share it)', timeLimit('--time-limit'), DEFAULT_OPTIONS.timeLimitSeconds)
    .option('--global-batch <n>', "override the model's global batch (single case)", positiveInteger('--global-batch'))
    .option('--micro-batch <n>', "override the model's micro-batch (single case)", positiveInteger('--micro-batch'))
    .option('--json', 'print a machine-readable report instead of text')
    .addHelpText(
      'after',
      `
Examples:
  $ mosaic compare --model llava-1.5-7b --cluster h100-1x8
  $ mosaic compare -m qwen2-vl-7b -c h100-4x8 --solver jslp --time-limit 30 --json
  $ mosaic compare --suite datasets/suites/compare-example.json   # [{"model": "sd-1.5", "cluster": "a100-1x8"}, ...]

The heuristic gap is heuristic / ILP − 1, on the simulator and on the linear model the ILP optimises.
Exit codes: 0 ok, 1 internal error, 2 usage or invalid input, 3 a case does not fit (the other cases
of a suite still run), 4 time limit with no plan.`,
    )
    .action(async (flags: CompareFlags) => {
      await runCommand(async () => {
        if (flags.suite && (flags.model || flags.cluster)) throw new MosaicError('E_USAGE', 'give either --suite or --model and --cluster, not both');
        if (!flags.suite && !(flags.model && flags.cluster)) throw new MosaicError('E_USAGE', 'give --model and --cluster, or --suite FILE');
        const cases: SuiteCase[] = flags.suite
          ? readSuite(flags.suite)
          : [{ model: flags.model!, cluster: flags.cluster!, ...(flags.globalBatch ? { globalBatch: flags.globalBatch } : {}), ...(flags.microBatch ? { microBatch: flags.microBatch } : {}) }];
        const reports: CaseReport[] = [];
        for (const [i, c] of cases.entries()) {
          const ticker = startTicker(`case ${i + 1}/${cases.length}: ${c.model} on ${c.cluster}`);
          let r: CaseReport;
          try {
            r = await compareCase(c, flags.solver, flags.timeLimit);
          } finally {
            ticker.stop();
          }
          reports.push(r);
          if (!flags.json) {
            if (i > 0) process.stdout.write('\n');
            printCase(r);
          }
        }
        if (flags.json) process.stdout.write(JSON.stringify({ cases: reports }, null, 2) + '\n');
        const failed = reports.filter((r) => !r.fits);
        if (failed.length > 0) {
          // Every case has been reported (on stdout with --json); the exit status says some did not fit.
          process.stderr.write(`mosaic: ${failed.length} of ${reports.length} case(s) do not fit: ${failed.map((r) => `${r.model} on ${r.cluster}`).join(', ')}\n`);
          process.exitCode = EXIT_CODES.E_INFEASIBLE;
        }
      }, flags.json);
    });
}
