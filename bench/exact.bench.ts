/**
 * npm run bench:exact — the whole `plan --method all` on every bundled model × cluster (builtin-mm left
 * out), global batch scaled with the cluster (model batch × GPUs / 8): the final plan's simulated time
 * and origin, the bound over the plan space, the proven gap, how the exact search stopped, its trials,
 * the heuristic's gap to the final plan, and the wall time of the whole planning.
 *
 *   node dist/bench/exact.bench.js [--time-limit S] [--only SUBSTRING]
 */
import { arg, bundledFiles, scaledBatch } from './cases';
import { planModel } from '../src/plan/planner';
import { loadCluster, loadModel } from '../src/spec/load';
import { gpuCountOf } from '../src/spec/problem';

const timeLimitSeconds = Number(arg('--time-limit') ?? 10);
const only = arg('--only');

async function main(): Promise<void> {
  const models = bundledFiles('models').map(loadModel).filter((m) => m.name !== 'builtin-mm');
  const clusters = bundledFiles('clusters').map(loadCluster);
  const rows: string[][] = [['model', 'cluster', 'GPUs', 'final ms', 'origin', 'bound ms', 'gap', 'search', 'trials', 'heuristic gap', 'planning s']];
  const gaps: number[] = [];
  const times: number[] = [];
  for (const m of models) {
    for (const c of clusters) {
      const label = `${m.name} ${c.name}`;
      if (only && !label.includes(only)) continue;
      const started = Date.now();
      try {
        const r = await planModel(scaledBatch(m, c), c, undefined, { method: 'all', timeLimitSeconds });
        const s = (Date.now() - started) / 1000;
        const best = r.best;
        const gap = best.bound!.gap;
        gaps.push(gap);
        times.push(s);
        const heuristicGap = r.heuristic ? r.heuristic.prediction.iterationMs / best.prediction.iterationMs - 1 : NaN;
        rows.push([m.name, c.name, String(gpuCountOf(c)), best.prediction.iterationMs.toFixed(1), best.provenance, r.bound.boundMs.toFixed(1), `${(100 * gap).toFixed(2)}%`, r.exact?.stopped ?? '-', String(r.exact?.trials.length ?? 0), `${(100 * heuristicGap).toFixed(2)}%`, s.toFixed(1)]);
      } catch (err) {
        rows.push([m.name, c.name, String(gpuCountOf(c)), '-', (err as Error).message.slice(0, 60), '-', '-', '-', '-', '-', ((Date.now() - started) / 1000).toFixed(1)]);
      }
      process.stderr.write(`${label} done\n`);
    }
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) process.stdout.write('| ' + r.map((v, i) => v.padEnd(widths[i])).join(' | ') + ' |\n');
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const med = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)];
  process.stdout.write(`\n${gaps.length} cases: proven gap median ${(100 * med(gaps)).toFixed(2)}%, max ${(100 * Math.max(...gaps)).toFixed(2)}%, within 2%: ${gaps.filter((g) => g <= 0.02).length}; planning time median ${med(times).toFixed(1)} s, max ${Math.max(...times).toFixed(1)} s (time limit ${timeLimitSeconds} s)\n`);
}

void main();
