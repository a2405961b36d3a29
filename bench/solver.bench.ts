/**
 * npm run bench:solver — the exact ILP planner on every bundled model × cluster and on a synthetic
 * 1024-GPU H100 cluster: pattern count, model size, solve time per backend (first solve, worker
 * start-up included), status, and the heuristic's gap to the ILP, on the linear model and simulated.
 * The global batch is scaled with the cluster (model batch × GPUs / 8) so that 128 GPUs have work; the
 * synthetic 256- and 1024-GPU cases get one microbatch per GPU.
 *
 *   node dist/bench/solver.bench.js [--time-limit S] [--backends glpk,jslp] [--only SUBSTRING] [--cutoff-row]
 */
import { arg, bundledFiles, scaledBatch } from './cases';
import { buildPerfModel, type PerfModel } from '../src/perf/perf-model';
import { heuristicSeeds, ilpStats, layoutTheta, planIlp } from '../src/plan/ilp';
import { loadCluster, loadModel } from '../src/spec/load';
import { gpuCountOf } from '../src/spec/problem';
import type { ClusterSpec, ModelSpec } from '../src/spec/types';
import type { BackendName } from '../solver/backends';

const timeLimitSeconds = Number(arg('--time-limit') ?? 10);
const backends = (arg('--backends') ?? 'highs,glpk,jslp').split(',') as BackendName[];
const only = arg('--only');
const cutoffAsRow = process.argv.includes('--cutoff-row');

/**
 * The synthetic scale-ups get one microbatch per GPU: the ILP's size does not depend on the batch, and
 * the simulator, which scores every candidate, is linear in microbatches (16 per GPU would take minutes).
 */
function onePerGpu(base: ModelSpec, cluster: ClusterSpec): ModelSpec {
  return { ...base, batch: { ...base.batch, global: base.batch.micro * gpuCountOf(cluster) } };
}

function scaleUp(h100: ClusterSpec, nodes: number): ClusterSpec {
  return { ...h100, name: `h100-${nodes}x8-synthetic`, description: `${h100.description} (synthetic scale-up to ${nodes} nodes)`, nodes };
}

async function main(): Promise<void> {
  // builtin-mm is the CPU engine's toy (tens of thousands of parameters): planning it for GPU clusters measures nothing.
  const models = bundledFiles('models').map(loadModel).filter((m) => m.name !== 'builtin-mm');
  process.stdout.write('builtin-mm (the CPU engine\'s toy model) is left out: see bench:engine\n');
  const clusters = bundledFiles('clusters').map(loadCluster);
  const h100 = clusters.find((c) => c.name === 'h100-1x8') ?? clusters[0];
  const cases: { model: ModelSpec; cluster: ClusterSpec }[] = [];
  for (const m of models) for (const c of clusters) cases.push({ model: scaledBatch(m, c), cluster: c });
  for (const m of models.filter((x) => x.name === 'llava-1.5-7b' || x.name === 'qwen2-vl-7b')) for (const nodes of [32, 128]) cases.push({ model: onePerGpu(m, scaleUp(h100, nodes)), cluster: scaleUp(h100, nodes) });

  const header = ['model', 'cluster', 'GPUs', 'patterns', 'stride', 'vars', 'rows', ...backends.map((b) => `${b} ms`), 'status', 'ILP lin ms', 'heur lin gap', 'heur sim gap', 'chosen'];
  const rows: string[][] = [header];
  const firstSolve: number[] = [];
  let worstLinear = { gap: 0, label: '' };
  let worstSimulated = { gap: 0, label: '' };
  let allOptimal = true;
  for (const { model, cluster } of cases) {
    const label = `${model.name} on ${cluster.name}`;
    if (only && !label.includes(only)) continue;
    const perf: PerfModel = buildPerfModel(model, cluster);
    const gpus = perf.gpuCount;
    const microbatches = perf.microbatches;
    const seeds = heuristicSeeds(perf);
    const size = ilpStats(perf);
    const times: string[] = [];
    let status = '';
    let linear = '';
    let linGap = '';
    let simGap = '';
    let chosen = '';
    for (const backend of backends) {
      const r = await planIlp(perf, { solver: backend, timeLimitSeconds, seeds: seeds.layouts, nextBest: backend === backends[0] ? 2 : 0, cutoffAsRow });
      if ('infeasible' in r) {
        times.push('-');
        status = `infeasible: ${r.infeasible.slice(0, 60)}`;
        continue;
      }
      times.push(`${r.stats.solveMs.toFixed(0)}${r.stats.status === 'optimal' ? '' : '*'}`);
      if (backend !== backends[0]) continue;
      firstSolve.push(r.stats.solveMs);
      status = r.stats.status;
      if (r.stats.status !== 'optimal') allOptimal = false;
      linear = r.ilpLinearMs?.toFixed(1) ?? '-';
      chosen = r.best.chosen;
      if (seeds.best && r.ilpLinearMs !== undefined) {
        const heurLinear = microbatches / layoutTheta(perf, seeds.best.layout);
        const lg = heurLinear / r.ilpLinearMs - 1;
        const sg = seeds.best.scored.simulation.iterationMs / r.best.simulation.iterationMs - 1;
        linGap = `${(100 * lg).toFixed(2)}%`;
        simGap = `${(100 * sg).toFixed(2)}%`;
        if (lg > worstLinear.gap) worstLinear = { gap: lg, label };
        if (sg > worstSimulated.gap) worstSimulated = { gap: sg, label };
      }
    }
    rows.push([model.name, cluster.name, String(gpus), String(size.patterns), String(size.levelStride), String(size.variables), String(size.rows), ...times, status, linear, linGap, simGap, chosen]);
    process.stderr.write(`${label}: done\n`);
  }
  const widths = header.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const [i, r] of rows.entries()) {
    process.stdout.write('| ' + r.map((c, j) => (c ?? '').padEnd(widths[j])).join(' | ') + ' |\n');
    if (i === 0) process.stdout.write('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|\n');
  }
  const sorted = [...firstSolve].sort((a, b) => a - b);
  const median = sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)] : NaN;
  process.stdout.write(`\n* = not proven optimal within ${timeLimitSeconds} s. ${backends[0]} first solve: median ${median.toFixed(0)} ms, max ${Math.max(...sorted).toFixed(0)} ms; all proven optimal: ${allOptimal}.\n`);
  process.stdout.write(`worst heuristic gap, linear model: ${(100 * worstLinear.gap).toFixed(2)}% (${worstLinear.label || '-'}); simulated: ${(100 * worstSimulated.gap).toFixed(2)}% (${worstSimulated.label || '-'})\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
