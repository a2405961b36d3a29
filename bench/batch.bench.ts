/**
 * `npm run bench:batch`: throughput of `mosaic batch` (cases per second) with 1 worker and with every
 * core, and the parallel efficiency (speedup ÷ workers).
 *
 * The full bundled suite (datasets/suites/bundled.json, 96 ILP cases at 10 s) takes minutes per run, so
 * the bench uses two documented subsets derived from it, each run from scratch in a temporary directory:
 *   - "heuristic+baseline": every bundled model × cluster × both batch settings of the bundled suite,
 *     methods heuristic and baseline (112 CPU-bound cases);
 *   - "compare (ILP)": 3 models × the two 8-GPU clusters × the first batch setting, method compare with
 *     glpk at 5 s (6 cases; the solver runs in its own thread, so each case uses up to two cores).
 * Set BENCH_BATCH_FULL=1 to run the full bundled suite instead (slow).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Writable } from 'stream';
import { defaultWorkers, runBatch } from '../src/batch/runner';
import { REPO_ROOT } from '../src/spec/schemas';

type Subset = { name: string; manifest: unknown };

const bundled = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'datasets/suites/bundled.json'), 'utf8'));
const grid = bundled.grid;

const subsets: Subset[] = process.env.BENCH_BATCH_FULL
  ? [{ name: 'bundled suite (full)', manifest: bundled }]
  : [
      { name: 'heuristic+baseline', manifest: { timeLimitSeconds: 10, grid: { ...grid, methods: ['heuristic', 'baseline'] } } },
      {
        name: 'compare (ILP, 5 s)',
        manifest: { timeLimitSeconds: 5, grid: { models: ['llava-1.5-7b', 'qwen2-vl-7b', 'sd-1.5'], clusters: ['a100-1x8', 'h100-1x8'], batches: [grid.batches[0]], methods: ['compare'], solvers: ['glpk'] } },
      },
    ];

const sink = new Writable({ write: (_c, _e, cb) => cb() });

async function measure(manifestFile: string, workers: number): Promise<{ cases: number; seconds: number; failed: number; meanCaseMs: number; coresBusy: number }> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mosaic-bench-batch-out-'));
  try {
    const started = process.hrtime.bigint();
    const cpu = process.cpuUsage();
    const s = await runBatch({ manifest: manifestFile, outDir: out, workers, progress: sink });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const used = process.cpuUsage(cpu);
    // CPU time of every thread of this process (workers, solver threads, V8's GC helpers) per wall second.
    const coresBusy = (used.user + used.system) / 1e6 / seconds;
    // Mean wall time of a case inside its worker: it grows when workers compete for cores.
    const lines = fs.readFileSync(path.join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { planningMs: number });
    const meanCaseMs = lines.reduce((a, l) => a + l.planningMs, 0) / Math.max(1, lines.length);
    return { cases: s.total, seconds, failed: s.failed, meanCaseMs, coresBusy };
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const cores = defaultWorkers();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosaic-bench-batch-'));
  const rows: string[][] = [];
  try {
    process.stdout.write(`mosaic batch throughput: 1 worker vs ${cores} (the number of cores), Node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'}\n\n`);
    for (const subset of subsets) {
      const file = path.join(dir, `${subset.name.replace(/[^a-z0-9]+/gi, '-')}.json`);
      fs.writeFileSync(file, JSON.stringify(subset.manifest));
      const one = await measure(file, 1);
      const all = cores > 1 ? await measure(file, cores) : one;
      const speedup = one.seconds / all.seconds;
      rows.push([
        subset.name,
        String(one.cases),
        String(one.failed),
        one.seconds.toFixed(1),
        (one.cases / one.seconds).toFixed(2),
        one.meanCaseMs.toFixed(0),
        one.coresBusy.toFixed(2),
        String(cores),
        all.seconds.toFixed(1),
        (all.cases / all.seconds).toFixed(2),
        all.meanCaseMs.toFixed(0),
        all.coresBusy.toFixed(2),
        `${speedup.toFixed(2)}×`,
        `${((100 * speedup) / cores).toFixed(0)}%`,
      ]);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const header = ['subset', 'cases', 'failed', '1 worker s', 'cases/s', 'ms/case', 'CPU', 'workers', 'N workers s', 'cases/s', 'ms/case', 'CPU', 'speedup', 'efficiency'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  process.stdout.write(line(header) + '\n' + widths.map((w) => '-'.repeat(w)).join('  ') + '\n' + rows.map(line).join('\n') + '\n');
  process.stdout.write('\nefficiency = (1-worker time ÷ N-worker time) ÷ N; ms/case = mean wall time of a case in its worker (it grows when\nworkers compete for cores, memory bandwidth or the solver threads); CPU = CPU seconds of all the threads of this process\n(workers, solver threads, V8 GC helpers) per wall second. Failed cases count: they are results too.\n');
  process.stdout.write(`load average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (other processes on the machine skew these figures)\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
