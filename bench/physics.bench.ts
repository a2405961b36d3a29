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
