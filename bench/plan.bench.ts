/**
 * npm run bench:plan — heuristic planning time for every bundled model × cluster, and the predicted
 * speedup of the heuristic plan over the best temporal baseline. The global batch is scaled with the
 * cluster (model batch × GPUs / 8) so that 128 GPUs have work; figures are from one run on this machine.
 */
import { bundledFiles, scaledBatch } from './cases';
import { planModel } from '../src/plan/planner';
import { loadCluster, loadModel } from '../src/spec/load';
import { gpuCountOf } from '../src/spec/problem';
import { MosaicError } from '../src/errors';
import type { Plan } from '../src/spec/plan';


async function main(): Promise<void> {
const rows: string[][] = [['model', 'cluster', 'GPUs', 'batch', 'best baseline', 'baseline ms', 'heuristic ms', 'speedup', 'no host gaps', 'vs bound', 'plan ms', 'heuristic layout (GPU 0)']];
// builtin-mm is the CPU engine's toy (tens of thousands of parameters): planning it for GPU clusters measures nothing.
for (const mf of bundledFiles('models').filter((f) => !f.endsWith('builtin-mm.json'))) {
  for (const cf of bundledFiles('clusters')) {
    const base = loadModel(mf);
    const cluster = loadCluster(cf);
    const gpus = gpuCountOf(cluster);
    const model = scaledBatch(base, cluster);
    try {
      const t0 = process.hrtime.bigint();
      const r = await planModel(model, cluster, undefined, { method: 'heuristic' });
      const wall = Number(process.hrtime.bigint() - t0) / 1e6;
      const fitted = r.baselines.filter((b): b is { name: 'sequential'; plan: Plan } => 'plan' in b);
      const best = fitted.reduce((a, b) => (b.plan.prediction.iterationMs < a.plan.prediction.iterationMs ? b : a));
      const h = r.heuristic!;
      // Which effect gives the gain: the same planning with the host's launch gaps taken out of the physics.
      const speedupOf = (x: Awaited<ReturnType<typeof planModel>>) => {
        const base = Math.min(...x.baselines.filter((b): b is { name: 'sequential'; plan: Plan } => 'plan' in b).map((b) => b.plan.prediction.iterationMs));
        return base / x.heuristic!.prediction.iterationMs;
      };
      const noGaps = cluster.device === 'gpu' ? await planModel(model, { ...cluster, gpu: { ...cluster.gpu, physics: { ...cluster.gpu.physics, hostGapUs: 0 } } }, undefined, { method: 'heuristic' }) : undefined;
      rows.push([
        model.name, cluster.name, String(gpus), String(model.batch.global), best.name,
        best.plan.prediction.iterationMs.toFixed(1), h.prediction.iterationMs.toFixed(1),
        (best.plan.prediction.iterationMs / h.prediction.iterationMs).toFixed(3) + 'x',
        noGaps ? speedupOf(noGaps).toFixed(3) + 'x' : '-',
        (h.prediction.iterationMs / h.prediction.lowerBoundMs).toFixed(3),
        (r.heuristicMs ?? wall).toFixed(0),
        h.gpus[0].slots.map((s) => `${s.modules.join('+')}@${s.smCount}`).join(' | '),
      ]);
    } catch (err) {
      if (!(err instanceof MosaicError)) throw err;
      rows.push([model.name, cluster.name, String(gpus), String(model.batch.global), `does not fit: ${err.lines[0].slice(0, 90)}`]);
    }
  }
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
for (const r of rows) process.stdout.write('| ' + r.map((c, i) => (c ?? '').padEnd(widths[i])).join(' | ') + ' |\n');
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
