/**
 * Training on the CPU backend (src/engine/train.ts, mosaic train): the built-in model learns, every
 * valid plan computes the sequential reference's weights, plans that cannot run are refused with a
 * reason, cancellation stops cleanly, and the CLI reports measured vs predicted time.
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { MosaicError } from '../src/errors';
import { BUILTIN_MODEL } from '../src/engine/builtin-model';
import { loadNative } from '../src/engine/native';
import { refusePlan, trainPlan, type TrainReport } from '../src/engine/train';
import { buildPerfModel } from '../src/perf/perf-model';
import { scoreLayout, toPlan } from '../src/plan/make-plan';
import type { Layout } from '../src/plan/layout';
import { planModel } from '../src/plan/planner';
import { validatePlan } from '../src/plan/validate';
import { localCpuCluster } from '../src/spec/local-cpu';
import type { Plan } from '../src/spec/plan';
import type { ClusterSpec, ModelSpec } from '../src/spec/types';
import { CLI, ROOT, explicitModule, tinyCluster, tinyModel } from './helpers/fixtures';

const cpu2 = localCpuCluster(2);
/** Two one-core "GPUs": room for an exclusive split. */
const cpu2x1: ClusterSpec = { ...cpu2, name: 'cpu-2x1', gpusPerNode: 2, gpu: { ...cpu2.gpu, name: 'cpu-1-core', smCount: 1, peakTflops: cpu2.gpu.peakTflops / 2 } };

function planFor(model: ModelSpec, cluster: ClusterSpec, layout: Layout, label = 'sequential'): Plan {
  const perf = buildPerfModel(model, cluster);
  return toPlan(perf, scoreLayout(perf, layout), `baseline:${label}`);
}

const all = ['image', 'audio', 'head'];
const sequential = (): Plan => planFor(BUILTIN_MODEL, cpu2, [{ pattern: [{ modules: all, quotaFraction: 1 }], count: 1 }]);

function maxDiff(a: TrainReport, b: TrainReport): number {
  let worst = 0;
  for (const [m, ws] of a.finalWeights!) {
    const other = b.finalWeights!.get(m)!;
    expect(other.length, m).to.equal(ws.length);
    ws.forEach((w, i) => {
      for (let j = 0; j < w.length; j++) worst = Math.max(worst, Math.abs(w[j]! - other[i]![j]!));
    });
  }
  return worst;
}

describe('engine training on the CPU backend', function () {
  this.timeout(300000); // a hang guard; ~10 s on an idle 2-core machine

  before(function () {
    const r = loadNative();
    if (!r.ok) throw new Error(r.reason);
    if (r.binding.cpuInfo().allowedCores.length < 2) this.skip();
  });

  it('the built-in model learns: the loss falls well below its start in 300 steps', async () => {
    const report = await trainPlan(sequential(), { iterations: 300, seed: 7 });
    const losses = report.iterations.map((r) => r.loss!);
    const first = losses[0]!;
    const last = losses.slice(-20).reduce((s, x) => s + x, 0) / 20;
    expect(first).to.be.within(1.2, 1.6); // about ln 4
    expect(last, `loss ${first} -> ${last}`).to.be.below(0.3 * first);
    expect(report.builtin).to.equal(true);
    expect(report.cancelled).to.equal(false);
    expect(report.meanIterationMs).to.be.greaterThan(0);
    for (const m of all) {
      expect(report.iterations[5]!.busyMsByModule[m]).to.be.greaterThan(0);
      expect(report.iterations[5]!.utilisationByModule[m]).to.be.within(0, 1);
    }
  });

  describe('every valid plan computes the sequential reference’s weights', () => {
    const iterations = 4;
    let reference: TrainReport;
    before(async () => {
      reference = await trainPlan(sequential(), { iterations, seed: 3 });
    });

    const check = async (plan: Plan): Promise<void> => {
      expect(validatePlan(plan)).to.deep.equal([]);
      expect(refusePlan(plan)).to.equal(undefined);
      const report = await trainPlan(plan, { iterations, seed: 3 });
      expect(report.iterations.length).to.equal(iterations);
      expect(maxDiff(report, reference)).to.be.below(2e-5);
      report.iterations.forEach((r, i) => expect(r.loss).to.be.closeTo(reference.iterations[i]!.loss!, 1e-5));
    };

    it('the same plan twice: bit-identical (fixed accumulation order)', async () => {
      expect(maxDiff(await trainPlan(sequential(), { iterations, seed: 3 }), reference)).to.equal(0);
    });

    it('colocated: two slots of one core each, modules time-sharing one of them', async () => {
      await check(planFor(BUILTIN_MODEL, cpu2, [{ pattern: [{ modules: ['audio'], quotaFraction: 0.5 }, { modules: ['image', 'head'], quotaFraction: 0.5 }], count: 1 }], 'colocated'));
    });

    it('exclusive split: each module group on its own one-core device', async () => {
      await check(planFor(BUILTIN_MODEL, cpu2x1, [{ pattern: [{ modules: ['audio'], quotaFraction: 1 }], count: 1 }, { pattern: [{ modules: ['image', 'head'], quotaFraction: 1 }], count: 1 }], 'exclusive'));
    });

    it('replicated modules with uneven batch splits (data parallel, gradients summed across replicas)', async () => {
      const base = planFor(BUILTIN_MODEL, cpu2, [{ pattern: [{ modules: ['image', 'audio'], quotaFraction: 0.5 }, { modules: ['image', 'audio', 'head'], quotaFraction: 0.5 }], count: 1 }], 'replicated');
      const [s0, s1] = base.gpus[0]!.slots.map((s) => s.id) as [string, string];
      const replicas = [
        { module: 'image', index: 0, slot: s0, samples: 8 },
        { module: 'image', index: 1, slot: s1, samples: 24 },
        { module: 'audio', index: 0, slot: s0, samples: 20 },
        { module: 'audio', index: 1, slot: s1, samples: 12 },
        { module: 'head', index: 0, slot: s1, samples: 32 },
      ];
      const gpus = base.gpus.map((g) => ({ ...g, slots: g.slots.map((sl, i) => ({ ...sl, modules: i === 0 ? ['image', 'audio'] : ['image', 'audio', 'head'] })) }));
      await check({ ...base, gpus, replicas });
    });

    it('the plan the planner picks for local-cpu', async () => {
      const result = await planModel(BUILTIN_MODEL, cpu2, undefined, { method: 'heuristic' });
      await check(result.best);
    });

    it('a different micro-batch size changes nothing but the schedule', async () => {
      const model = { ...BUILTIN_MODEL, batch: { global: 32, micro: 8 } };
      const plan = planFor(model, cpu2, [{ pattern: [{ modules: ['audio', 'image'], quotaFraction: 0.5 }, { modules: ['head'], quotaFraction: 0.5 }], count: 1 }], 'colocated');
      const report = await trainPlan(plan, { iterations, seed: 3 });
      expect(maxDiff(report, reference)).to.be.below(2e-5);
    });
  });

  describe('plans that cannot run are refused before anything runs', () => {
    const expectRefused = async (plan: Plan, pattern: RegExp): Promise<void> => {
      expect(refusePlan(plan)).to.match(pattern);
      try {
        await trainPlan(plan, { iterations: 1 });
      } catch (err) {
        expect(err).to.be.instanceOf(MosaicError);
        expect((err as MosaicError).exitCode).to.equal(2);
        expect((err as Error).message).to.match(pattern);
        return;
      }
      expect.fail('trainPlan did not refuse the plan');
    };

    it('a plan for a GPU cluster', async () => {
      const plan = planFor(BUILTIN_MODEL, tinyCluster({ gpusPerNode: 1 }), [{ pattern: [{ modules: all, quotaFraction: 1 }], count: 1 }]);
      await expectRefused(plan, /device gpu.*cpu cluster/);
    });

    it('quotas over 1', async () => {
      const plan = sequential();
      const bad: Plan = { ...plan, gpus: plan.gpus.map((g) => ({ ...g, slots: [...g.slots, { id: 'g0.s9', quotaFraction: 0.5, smCount: 1, modules: ['head'] }] })), replicas: [...plan.replicas, { module: 'head', index: 1, slot: 'g0.s9', samples: 4 }] };
      await expectRefused(bad, /quotas sum to 1\.5/);
    });

    it('an unknown module', async () => {
      const plan = sequential();
      await expectRefused({ ...plan, replicas: [...plan.replicas, { module: 'video', index: 0, slot: 'g0.s0', samples: 32 }] }, /module "video" is not in model builtin-mm/);
    });

    it('more cores than this process may use', async () => {
      const n = loadNative();
      const allowed = n.ok ? n.binding.cpuInfo().allowedCores.length : 2;
      const plan = planFor(BUILTIN_MODEL, localCpuCluster(allowed + 2), [{ pattern: [{ modules: all, quotaFraction: 1 }], count: 1 }]);
      await expectRefused(plan, new RegExp(`needs ${allowed + 2} cores .* may use ${allowed}`));
    });

    it('more buffer memory than the machine has free', async () => {
      // Small for the performance model (activation bytes), huge as compiled: 2^20 rows × 4096 columns per sample.
      const huge = explicitModule('big', 1e6, 2 * 2 ** 20 * 4096 * 4096, [], true);
      const model = tinyModel([{ ...huge, arch: { ...huge.arch, gemmRowsPerSample: 2 ** 20, gemmCols: 4096 } as typeof huge.arch }], { batch: { global: 4, micro: 4 } });
      const plan = planFor(model, cpu2, [{ pattern: [{ modules: ['big'], quotaFraction: 1 }], count: 1 }]);
      expect(refusePlan(plan, { scale: 1 })).to.match(/out of memory: the engine needs [\d.]+ GiB/);
    });
  });

  it('cancellation between iterations and inside one stops cleanly and says what ran', async () => {
    const controller = new AbortController();
    const report = await trainPlan(sequential(), { iterations: 50, signal: controller.signal, onIteration: (r) => r.iteration === 1 && controller.abort() });
    expect(report.cancelled).to.equal(true);
    expect(report.iterations.length).to.equal(2);
    // A replay whose iteration takes a while, cancelled mid-graph.
    const model = tinyModel([explicitModule('a', 1e6, 2 * 256 * 256 * 256 * 8, [], true), explicitModule('b', 1e6, 2 * 256 * 256 * 256 * 8, ['a'], true)], { batch: { global: 16, micro: 4 } });
    const slow = planFor({ ...model, modules: model.modules.map((m) => ({ ...m, arch: { ...m.arch, gemmRowsPerSample: 256, gemmCols: 256 } as typeof m.arch })) }, cpu2, [{ pattern: [{ modules: ['a', 'b'], quotaFraction: 1 }], count: 1 }]);
    // The abort is queued (setImmediate) while iteration 0 is reported, so it fires while iteration
    // 1's graph is running: JS sees that graph end only in a later turn of the event loop. No clock.
    const c2 = new AbortController();
    const r2 = await trainPlan(slow, { iterations: 100, signal: c2.signal, scale: 1, onIteration: (r) => r.iteration === 0 && setImmediate(() => c2.abort()) });
    expect(r2.cancelled).to.equal(true);
    expect(r2.iterations.length).to.be.within(1, 2);
  });

  it('replays a bundled-style model (transformer + mlp, frozen encoder) at a reduced scale and predicts its time', async () => {
    const model: ModelSpec = JSON.parse(fs.readFileSync(path.join(ROOT, 'datasets/models/llava-1.5-7b.json'), 'utf8'));
    const small = { ...model, batch: { global: 8, micro: 4 } };
    const bigMemory: ClusterSpec = { ...cpu2, gpu: { ...cpu2.gpu, memoryGiB: 4096 } };
    const plan = planFor(small, bigMemory, [{ pattern: [{ modules: ['vision', 'projector'], quotaFraction: 0.5 }, { modules: ['llm'], quotaFraction: 0.5 }], count: 1 }], 'colocated');
    const report = await trainPlan(plan, { iterations: 2, scale: 1 / 64 });
    expect(report.builtin).to.equal(false);
    expect(report.iterations.length).to.equal(2);
    expect(report.iterations[0]!.loss).to.equal(undefined);
    expect(report.predictedIterationMs).to.be.greaterThan(0);
    expect(report.predictedIterationMs).to.be.below(plan.prediction.iterationMs);
    expect(report.flopsPerIteration).to.be.greaterThan(0);
    // The frozen vision tower keeps its weights.
    const before = await trainPlan(plan, { iterations: 0, scale: 1 / 64 });
    const v0 = before.finalWeights!.get('vision')!;
    report.finalWeights!.get('vision')!.forEach((w, i) => expect(Array.from(w)).to.deep.equal(Array.from(v0[i]!)));
    expect(maxDiffModule(report, before, 'llm')).to.be.greaterThan(0);
  });
});

function maxDiffModule(a: TrainReport, b: TrainReport, m: string): number {
  let worst = 0;
  a.finalWeights!.get(m)!.forEach((w, i) => {
    for (let j = 0; j < w.length; j++) worst = Math.max(worst, Math.abs(w[j]! - b.finalWeights!.get(m)![i]![j]!));
  });
  return worst;
}

describe('mosaic train (CLI)', function () {
  this.timeout(300000); // a hang guard; ~10 s on an idle 2-core machine
  let dir: string;
  let planFile: string;
  const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: ROOT });

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosaic-train-'));
    planFile = path.join(dir, 'plan.json');
    fs.writeFileSync(planFile, JSON.stringify(sequential(), null, 2));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('runs N iterations of a saved plan and prints loss, per-module busy time and measured vs predicted', () => {
    const r = cli('train', '--plan', planFile, '--iterations', '3');
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout.match(/^iter +\d+ +[\d.]+ ms +loss [\d.]+$/gm)).to.have.length(3);
    expect(r.stdout).to.match(/image +busy +[\d.]+ ms +utilisation +\d+%/);
    expect(r.stdout).to.match(/iteration time: measured [\d.]+ ms \(mean of 3; median [\d.]+ ms\), predicted [\d.]+ ms/);
  });

  it('--json gives a machine-readable report', () => {
    const r = cli('train', '--plan', planFile, '--iterations', '2', '--json');
    expect(r.status, r.stderr).to.equal(0);
    const j = JSON.parse(r.stdout);
    expect(j.iterationsRun).to.equal(2);
    expect(j.predictedIterationMs).to.be.greaterThan(0);
    expect(j.modules.head.busyMs).to.be.greaterThan(0);
    expect(j.iterations[0].loss).to.be.a('number');
  });

  it('--device cuda exits 2 with one clear line', () => {
    const r = cli('train', '--plan', planFile, '--device', 'cuda');
    expect(r.status).to.equal(2);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.include('no op kernels').and.include('E_CUDA_NO_KERNELS').and.include('--device cpu');
    expect(r.stderr).not.to.match(/\n\s+at /);
  });

  it('a plan for a GPU cluster exits 2 with the reason', () => {
    const file = path.join(dir, 'gpu.json');
    fs.writeFileSync(file, JSON.stringify(planFor(BUILTIN_MODEL, tinyCluster({ gpusPerNode: 1 }), [{ pattern: [{ modules: all, quotaFraction: 1 }], count: 1 }])));
    const r = cli('train', '--plan', file);
    expect(r.status).to.equal(2);
    expect(r.stderr).to.include('cannot run this plan').and.include('device gpu');
  });

  it('Ctrl-C (SIGINT) stops cleanly and reports the iterations that ran', async () => {
    const child = spawn(process.execPath, [CLI, 'train', '--plan', planFile, '--iterations', '100000', '--log-every', '1'], { cwd: ROOT });
    let stdout = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!sent && /iter +3 /.test(stdout)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    expect(status, stdout).to.equal(130);
    expect(stdout).to.match(/interrupted: \d+ iteration\(s\) completed before Ctrl-C/);
    expect(stdout).to.match(/iteration time: measured/);
  });
});
