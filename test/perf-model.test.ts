import { expect } from 'chai';
import { fitCurve, fitInterference } from '../src/perf/calibrate';
import { replicaMemoryBytes, planMemoryBytes, WORKSPACE_BYTES_PER_GPU } from '../src/perf/memory';
import { GiB } from '../src/spec/problem';
import { buildPerfModel, type ModuleTiming, type PerfModel } from '../src/perf/perf-model';
import { assignMicrobatches, simulateIteration } from '../src/perf/simulate';
import { curveTime, kernelsLoad } from '../src/perf/timing';
import { allReduceMs, gradientSync, hiddenSyncMs, leastGradientSync, syncTailMs } from '../src/perf/sync';
import { physicsFor } from '../src/perf/physics';
import { explicitModule, rng, tinyCluster, tinyModel } from './helpers/fixtures';
import type { PlanGpu, PlanReplica } from '../src/spec/plan';

/** A perf model with hand-set constant times, so the simulator can be checked against closed forms. */
function fixedPerf(times: Record<string, { f: number; b: number }>, model = tinyModel(Object.keys(times).map((n, i, all) => explicitModule(n, 1e6, 1e9, i > 0 ? [all[i - 1]] : [], times[n].b > 0)))): PerfModel {
  const real = buildPerfModel(model, tinyCluster());
  const timings = new Map<string, ModuleTiming>();
  for (const [name, t] of Object.entries(times)) {
    timings.set(name, { ...real.timings.get(name)!, backward: t.b > 0 ? 'full' : 'none', forwardMs: () => t.f, backwardMs: () => t.b, bandwidthShare: () => 0 });
  }
  return { ...real, timings, interferenceAlpha: 0 };
}

const gpu = (id: number, slots: { id: string; modules: string[]; q?: number }[]): PlanGpu => ({
  id,
  node: 0,
  slots: slots.map((s) => ({ id: s.id, quotaFraction: s.q ?? 1, smCount: Math.round((s.q ?? 1) * 40), modules: s.modules })),
});

describe('performance model', () => {
  describe('calibration', () => {
    it('recovers known curve parameters from exact samples', () => {
      const truth = { overheadMs: 0.4, workMs: 12, saturationFraction: 0.55 };
      const points = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1].map((q) => ({ quotaFraction: q, ms: curveTime(truth, q) }));
      const fit = fitCurve(points);
      expect(fit.params.overheadMs).to.be.closeTo(truth.overheadMs, 1e-6);
      expect(fit.params.workMs).to.be.closeTo(truth.workMs, 1e-6);
      expect(fit.params.saturationFraction).to.be.closeTo(truth.saturationFraction, 1e-4);
      expect(fit.mapePercent).to.be.below(1e-4);
    });

    it('stays close under 1% seeded noise and reports the fit error', () => {
      const random = rng(7);
      for (let trial = 0; trial < 10; trial++) {
        const truth = { overheadMs: random() * 2, workMs: 5 + random() * 50, saturationFraction: 0.3 + random() * 0.6 };
        const points = [];
        for (let q = 0.08; q <= 1.0001; q += 0.08) points.push({ quotaFraction: q, ms: curveTime(truth, q) * (1 + (random() - 0.5) * 0.02) });
        const fit = fitCurve(points);
        expect(fit.params.workMs / truth.workMs).to.be.closeTo(1, 0.05);
        expect(fit.params.saturationFraction).to.be.closeTo(truth.saturationFraction, 0.05);
        expect(fit.mapePercent).to.be.below(1.5);
      }
    });

    it('fits the interference coefficient through the origin', () => {
      const samples = [0.1, 0.3, 0.5, 0.8].map((bw) => ({ neighbourBandwidth: bw, slowdown: 1 + 0.4 * bw }));
      expect(fitInterference(samples)).to.be.closeTo(0.4, 1e-9);
      expect(fitInterference([])).to.equal(undefined);
    });

    it('a profile switches the model to calibrated curves', () => {
      const model = tinyModel([explicitModule('a', 1e6, 1e9)]);
      const truth = { overheadMs: 1, workMs: 10, saturationFraction: 0.5 };
      const samples = [0.2, 0.4, 0.6, 0.8, 1].map((q) => ({ module: 'a', device: 'x', quotaFraction: q, micro: 4, forwardMs: curveTime(truth, q), backwardMs: 2 * curveTime(truth, q) }));
      const perf = buildPerfModel(model, tinyCluster(), { model: 'tiny', device: 'x', samples });
      expect(perf.source).to.equal('calibrated');
      expect(perf.timings.get('a')!.forwardMs(0.3)).to.be.closeTo(curveTime(truth, 0.3), 1e-6);
      expect(perf.timings.get('a')!.backwardMs(0.7)).to.be.closeTo(2 * curveTime(truth, 0.7), 1e-6);
    });
  });

  describe('kernel shapes', () => {
    it('a GEMM with fewer output tiles than SMs and too short a K to split does not speed up past its tile count', () => {
      const cluster = tinyCluster();
      // 256 × 1024 output in 128 × 128 tiles: 2 × 8 = 16 tiles on a 40-SM GPU; K = 256 cannot be split.
      const k = [{ name: 'g', flops: 2 * 256 * 1024 * 256, bytes: 0, tiles: 16, kind: 'gemm' as const, gemm: { m: 256, n: 1024, k: 256 }, launches: 1 }];
      const at = (q: number) => kernelsLoad(k, cluster, q).deviceMs;
      expect(at(0.2) / at(1)).to.be.greaterThan(1.5);
      // From 16 SMs (0.4) up, one wave of the 16 tiles: only the clock changes with more busy SMs.
      expect(at(1) / at(0.4)).to.be.within(0.95, 1.15);
    });
  });

  describe('all-reduce as NCCL costs it (src/perf/sync.ts, allReduceMs)', () => {
    const cluster = (nodes: number, gpusPerNode: number) => tinyCluster({ nodes, gpusPerNode, links: { intraNodeGBps: 400, interNodeGBps: 50, latencyUs: 5 } });
    const perfOn = (nodes: number, gpusPerNode: number) => buildPerfModel(tinyModel([explicitModule('a', 1e9, 1e9)]), cluster(nodes, gpusPerNode));
    const MB = 1e6;

    it('inside one node: the ring, 2(R−1) latencies and 2(R−1)/R of the data over NVLink', () => {
      const perf = perfOn(1, 8);
      expect(allReduceMs(perf, 1, 1, 25 * MB)).to.equal(0);
      expect(allReduceMs(perf, 8, 1, 25 * MB)).to.be.closeTo(14 * 0.005 + (14 / 8) * (25 * MB) / (400 * 1e6), 1e-12);
    });

    it('across nodes: the faster of the ring and the tree (2((R/n − 1) + ⌈log2 n⌉) latencies, 2× the data)', () => {
      const perf = perfOn(512, 8);
      const ring = (R: number, bytes: number) => 2 * (R - 1) * 0.005 + ((2 * (R - 1)) / R) * (bytes / (50 * 1e6));
      const tree = (R: number, n: number, bytes: number) => 2 * (R / n - 1 + Math.ceil(Math.log2(n))) * 0.005 + (2 * bytes) / (50 * 1e6);
      // 2 replicas on 2 nodes, a large bucket: the ring moves half the data the tree does.
      expect(allReduceMs(perf, 2, 2, 400 * MB)).to.be.closeTo(ring(2, 400 * MB), 1e-9);
      // 4,096 replicas on 512 nodes, a 25 MiB bucket: the ring pays 8,190 latencies, the tree 32.
      const bucket = 25 * 2 ** 20;
      expect(allReduceMs(perf, 4096, 512, bucket)).to.be.closeTo(tree(4096, 512, bucket), 1e-9);
      expect(tree(4096, 512, bucket)).to.be.below(ring(4096, bucket) / 20);
    });

    it('the least sync over node counts bounds every placement and does not fall as replicas are added', () => {
      const perf = perfOn(16, 8);
      for (const spans of [false, true]) {
        let previous = 0;
        for (let R = 1; R <= 128; R++) {
          const least = leastGradientSync(perf, 'a', R, spans).ms;
          const counts = spans ? Array.from({ length: Math.min(R, 16) - 1 }, (_, i) => i + 2) : [1];
          for (const n of counts) expect(least, `R=${R} n=${n}`).to.be.at.most(gradientSync(perf, 'a', R, n).ms * (1 + 1e-12));
          expect(least, `R=${R}`).to.be.at.least(previous * (1 - 1e-12));
          previous = least;
        }
      }
    });
  });

  describe('bucketed gradient sync (src/perf/sync.ts)', () => {
    it('the closed form equals the bucket-by-bucket chain: 500 random cases of 1–6 replicas and 1–40 buckets', () => {
      const random = rng(91);
      for (let trial = 0; trial < 500; trial++) {
        const k = 1 + Math.floor(random() * 40);
        const S = random() * 50;
        const reps = Array.from({ length: 1 + Math.floor(random() * 6) }, () => ({ s: random() * 20, D: random() * 30 }));
        // Bucket i is ready on replica r at s + D·i/k; it starts once every replica has it and bucket i−1 is done.
        let end = -Infinity;
        for (let i = 1; i <= k; i++) end = Math.max(end, ...reps.map((r) => r.s + (r.D * i) / k)) + S / k;
        const closed = Math.max(...reps.map((r) => r.s + r.D + syncTailMs({ ms: S, buckets: k }, hiddenSyncMs(k, r.D, 0, r.D))));
        expect(closed, `trial ${trial}`).to.be.closeTo(end, 1e-9 * (1 + end));
      }
    });

    it('the simulator steps the optimizer when the last bucket is reduced; 0 MiB is one all-reduce after the last backward', () => {
      const run = (gradientBucketMiB: number) => {
        const model = tinyModel([explicitModule('a', 1e6, 1e9)], { optimizer: { name: 'adamw', stateBytesPerParam: 12, zeroStage: 0, gradientBucketMiB } });
        const perf = fixedPerf({ a: { f: 2, b: 3 } }, model);
        const gpus = [gpu(0, [{ id: 'g0.s0', modules: ['a'] }]), gpu(1, [{ id: 'g1.s0', modules: ['a'] }])];
        const sim = simulateIteration(perf, gpus, [{ module: 'a', index: 0, slot: 'g0.s0', samples: 8 }, { module: 'a', index: 1, slot: 'g1.s0', samples: 8 }]);
        return { sync: gradientSync(perf, 'a', 2, 1), step: sim.timeline.find((e) => e.kind === 'optimizer')!, sim };
      };
      // 2 MB of bf16 gradients: 4 buckets of 0.5 MiB. Each replica runs 2 microbatches of 2 + 3 ms; the
      // collective holds a share f of the SMs while it overlaps the last backward, which runs longer by
      // the overlapped part × f/(1 − f).
      const bucketed = run(0.5);
      expect(bucketed.sync.buckets).to.equal(4);
      const f = physicsFor(tinyCluster()).collectiveSmFraction;
      expect(f).to.be.within(0.05, 0.3);
      const S = bucketed.sync.ms;
      const last = 3 + Math.min(3 * 0.75, S - S / 4) * (f / (1 - f));
      const lastBackward = bucketed.sim.timeline.filter((e) => e.kind === 'backward' && e.microbatch === 3)[0]!;
      expect(lastBackward.endMs - lastBackward.startMs).to.be.closeTo(last, 1e-9);
      expect(bucketed.step.startMs).to.be.closeTo(7 + last + Math.max(S / 4, S - last * 0.75), 1e-9);
      const after = run(0);
      expect(after.sync.buckets).to.equal(1);
      expect(after.step.startMs).to.be.closeTo(10 + after.sync.ms, 1e-9);
      // The same bytes on links without latency: the same link time, all but the last bucket's hidden under the backward.
      expect(bucketed.sync.ms).to.be.closeTo(after.sync.ms, 1e-12);
      expect(bucketed.step.startMs).to.be.lessThan(after.step.startMs);
      const event = bucketed.sim.communication.find((c) => c.kind === 'all-reduce')!;
      expect(event.endMs).to.be.closeTo(bucketed.step.startMs, 1e-9);
      expect(event.exposedMs!).to.be.closeTo(bucketed.step.startMs - (7 + last), 1e-9);
    });
  });

  describe('simulation', () => {
    it('one module on one GPU: K microbatches of forward plus backward, then the optimizer step', () => {
      const perf = fixedPerf({ a: { f: 2, b: 3 } });
      const sim = simulateIteration(perf, [gpu(0, [{ id: 'g0.s0', modules: ['a'] }])], [{ module: 'a', index: 0, slot: 'g0.s0', samples: 16 }]);
      const step = sim.timeline.find((e) => e.kind === 'optimizer')!;
      expect(step.startMs).to.be.closeTo(4 * 5, 1e-9);
      expect(sim.iterationMs).to.be.closeTo(20 + (step.endMs - step.startMs), 1e-9);
    });

    it('a forward-only two-stage pipeline: first stage fill, then the slower stage K times, plus the transfer', () => {
      const perf = fixedPerf({ a: { f: 1, b: 0 }, b: { f: 3, b: 0 } });
      const gpus = [gpu(0, [{ id: 'g0.s0', modules: ['a'] }]), gpu(1, [{ id: 'g1.s0', modules: ['b'] }])];
      const replicas: PlanReplica[] = [
        { module: 'a', index: 0, slot: 'g0.s0', samples: 16 },
        { module: 'b', index: 0, slot: 'g1.s0', samples: 16 },
      ];
      const transfer = (1000 * 4 * 2) / (100 * 1e6); // 1000 elements × micro 4 × 2 bytes over 100 GB/s
      expect(simulateIteration(perf, gpus, replicas).iterationMs).to.be.closeTo(1 + transfer + 4 * 3, 1e-9);
      const fast = fixedPerf({ a: { f: 3, b: 0 }, b: { f: 1, b: 0 } });
      expect(simulateIteration(fast, gpus, replicas).iterationMs).to.be.closeTo(4 * 3 + transfer + 1, 1e-9);
    });

    it('two modules sharing one slot in time take the sum of their work', () => {
      const perf = fixedPerf({ a: { f: 1, b: 0 }, b: { f: 2, b: 0 } });
      const sim = simulateIteration(perf, [gpu(0, [{ id: 'g0.s0', modules: ['a', 'b'] }])], [
        { module: 'a', index: 0, slot: 'g0.s0', samples: 16 },
        { module: 'b', index: 0, slot: 'g0.s0', samples: 16 },
      ]);
      expect(sim.iterationMs).to.be.closeTo(4 * 3, 1e-9);
    });

    it('microbatches are spread over replicas in proportion to their counts', () => {
      expect(assignMicrobatches([2, 2])).to.deep.equal([0, 1, 0, 1]);
      const owners = assignMicrobatches([3, 1]);
      expect(owners.filter((o) => o === 0)).to.have.length(3);
      expect(owners).to.have.length(4);
    });
  });

  describe('memory', () => {
    it('matches a hand count: weights, gradients and optimizer state with ZeRO sharding, plus activations', () => {
      const model = tinyModel([explicitModule('a', 1e9, 1e12)], { optimizer: { name: 'adamw', stateBytesPerParam: 12, zeroStage: 1 } });
      const perf = buildPerfModel(model, tinyCluster());
      // 1e9 params: 2 GB bf16 weights + 2 GB grads + 12 GB state / 2 replicas; activations 1e6 B/sample × micro 4
      // × in-flight limit 2 (one module: depth 1, +1); output 1000 elements × 4 × 2 B, double-buffered.
      const expected = 2e9 + 2e9 + 12e9 / 2 + 2 * 4e6 + 2 * 1000 * 4 * 2;
      expect(replicaMemoryBytes(perf, 'a', 2, 2)).to.be.closeTo(expected, 1);
      const gpus = [gpu(0, [{ id: 'g0.s0', modules: ['a'] }]), gpu(1, [{ id: 'g1.s0', modules: ['a'] }])];
      const mem = planMemoryBytes(perf, gpus, [
        { module: 'a', index: 0, slot: 'g0.s0', samples: 8 },
        { module: 'a', index: 1, slot: 'g1.s0', samples: 8 },
      ]);
      expect(mem[0]).to.be.closeTo(WORKSPACE_BYTES_PER_GPU + expected, 1);
      expect(mem[0] / GiB).to.be.below(80);
    });

    it('ZeRO stage 3 shards weights too', () => {
      const base = tinyModel([explicitModule('a', 1e9, 1e12)]);
      const z0 = buildPerfModel({ ...base, optimizer: { ...base.optimizer, zeroStage: 0 } }, tinyCluster());
      const z3 = buildPerfModel({ ...base, optimizer: { ...base.optimizer, zeroStage: 3 } }, tinyCluster());
      // 16 GB of states become 4 GB per replica, plus the gathered copy of the (one-block) module in use.
      expect(replicaMemoryBytes(z3, 'a', 4, 1)).to.be.closeTo(replicaMemoryBytes(z0, 'a', 4, 1) - 16e9 + 4e9 + 2e9, 1);
    });
  });
});
