/**
 * The physics against a GPU sweep: predicted vs measured per kernel class and per layer, and the
 * co-running slowdowns. `npm run bench:physics [-- --sweep FILE]` (default: the H200 sweep in
 * datasets/profiles/h200-2026-11-27, both of its files).
 */
import { compareSweep, mape, readSweep, sweepCluster, type SweepRow } from '../src/perf/sweep';
import { arg } from './cases';

const dir = 'datasets/profiles/h200-2026-11-27';
const files = arg('--sweep') ? [arg('--sweep')!] : [`${dir}/sweep.jsonl`, `${dir}/blocks.jsonl`];
const records = files.flatMap((f) => readSweep(f));
const cluster = sweepCluster(records);
const rows = compareSweep(records, cluster);

const kinds = [...new Set(rows.map((r) => r.kind))];
console.log(`physics vs ${files.join(' + ')} (${cluster.gpu.name}, ${cluster.gpu.smCount} SMs)\n`);
console.log('| kind | points | MAPE % | worst point (measured → predicted) |');
console.log('| --- | ---: | ---: | --- |');
for (const k of kinds) {
  const rs = rows.filter((r) => r.kind === k);
  const worst = rs.reduce((w: SweepRow, r) => (Math.abs(r.predicted / r.measured - 1) > Math.abs(w.predicted / w.measured - 1) ? r : w), rs[0]!);
  const f = (x: number) => (worst.unit === 'x' ? `${x.toFixed(2)}×` : `${x.toFixed(3)} ms`);
  console.log(`| ${k} | ${rs.length} | ${mape(rs).toFixed(1)} | ${worst.label} @ ${worst.sms} SMs: ${f(worst.measured)} → ${f(worst.predicted)} |`);
}
if (process.argv.includes('--all')) {
  console.log('\n| kind | label | SMs | measured | predicted |\n| --- | --- | ---: | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.kind} | ${r.label} | ${r.sms} | ${r.measured.toFixed(4)} | ${r.predicted.toFixed(4)} |`);
}

// Per module: the analytic model (no profile) against the module profiles measured on the same GPU.
import { readFileSync, readdirSync } from 'fs';
import { buildPerfModel } from '../src/perf/perf-model';
import { parseCluster, parseModel, parseProfile } from '../src/spec/load';

const h200 = parseCluster(JSON.parse(readFileSync('datasets/clusters/h200-1x8.json', 'utf8')), 'datasets/clusters/h200-1x8.json');
console.log(`\nper module: analytic model on ${h200.name} vs the profiles measured in ${dir} (eager PyTorch, 2 layers run and scaled)\n`);
console.log('| model | module | quotas | forward MAPE % | backward MAPE % | at all SMs: measured → predicted (fwd+bwd ms) |');
console.log('| --- | --- | ---: | ---: | ---: | --- |');
for (const f of readdirSync(dir).filter((x) => x.startsWith('profile-')).sort()) {
  const profile = parseProfile(JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')), f);
  const model = parseModel(JSON.parse(readFileSync(`datasets/models/${profile.model}.json`, 'utf8')), profile.model);
  const perf = buildPerfModel(model, h200);
  for (const m of [...new Set(profile.samples.map((s) => s.module))]) {
    const ss = profile.samples.filter((s) => s.module === m);
    const t = perf.timings.get(m)!;
    const err = (pred: (q: number) => number, meas: (s: (typeof ss)[number]) => number) => {
      const xs = ss.filter((s) => meas(s) > 0);
      return xs.length === 0 ? NaN : (100 * xs.reduce((a, s) => a + Math.abs(pred(s.quotaFraction) / meas(s) - 1), 0)) / xs.length;
    };
    const full = ss.find((s) => s.quotaFraction === 1)!;
    console.log(
      `| ${profile.model} | ${m} | ${ss.length} | ${err(t.forwardMs, (s) => s.forwardMs).toFixed(1)} | ${err(t.backwardMs, (s) => s.backwardMs).toFixed(1)} | ${(full.forwardMs + full.backwardMs).toFixed(1)} → ${(t.forwardMs(1) + t.backwardMs(1)).toFixed(1)} |`,
    );
  }
}
