import { expect } from 'chai';
import { buildPerfModel } from '../src/perf/perf-model';
import { exclusiveSplit } from '../src/plan/baselines';
import { planModel } from '../src/plan/planner';
import { validatePlan } from '../src/plan/validate';
import { heuristicCandidates, setPartitions } from '../src/plan/heuristic';
import { scoreLayout } from '../src/plan/make-plan';
import { DEFAULT_MAX_SLOTS } from '../src/plan/options';
import { loadCluster, loadModel } from '../src/spec/load';
import { resolveProblem } from '../src/spec/resolve';
import { MosaicError } from '../src/errors';
import type { Plan } from '../src/spec/plan';
import { bundled, explicitModule, rng, tinyCluster, tinyModel } from './helpers/fixtures';
import { exactInstance } from './helpers/random-instances';

describe('planner', () => {
  it('the exclusive split is the exact min-max optimum (brute force over all splits)', () => {
    const random = rng(11);
    for (let trial = 0; trial < 40; trial++) {
      const modules = 2 + Math.floor(random() * 3);
      const gpus = modules + Math.floor(random() * 5);
      const names = Array.from({ length: modules }, (_, i) => `m${i}`);
      const perf = buildPerfModel(tinyModel(names.map((n) => explicitModule(n, 1e6, 1e9))), tinyCluster({ gpusPerNode: gpus }));
      // Random non-monotone stage times (communication can make more GPUs slower).
      const table = new Map(names.map((n) => [n, Array.from({ length: gpus + 1 }, (_, k) => (k === 0 ? Infinity : (100 * random()) / k + 10 * random()))]));
      const stage = (m: string, n: number) => table.get(m)![n];
      const split = exclusiveSplit(perf, stage);
      expect(split).to.be.instanceOf(Map);
      const objective = (counts: number[]) => Math.max(...counts.map((c, i) => stage(names[i], c)));
      const got = objective(names.map((n) => (split as Map<string, number>).get(n)!));
      let best = Infinity;
      const walk = (i: number, left: number, counts: number[]) => {
        if (i === names.length) return void (best = Math.min(best, objective(counts)));
        for (let c = 1; c <= left - (names.length - i - 1); c++) walk(i + 1, left - c, [...counts, c]);
      };
      walk(0, gpus, []);
      expect(got).to.be.closeTo(best, 1e-9);
      expect([...(split as Map<string, number>).values()].reduce((a, b) => a + b, 0)).to.be.at.most(gpus);
    }
  });

  it('local search lists a module at most once per slot, also from layouts with several replicas per GPU (the 50 exactness instances)', () => {
    let slots = 0;
    for (let seed = 0; seed < 50; seed++) {
      const { model, cluster } = exactInstance(seed);
      const perf = buildPerfModel(model, cluster);
      for (const c of heuristicCandidates(perf, [], 20)) {
        for (const e of c.layout) {
          for (const slot of e.pattern) {
            expect(new Set(slot.modules).size, `instance ${seed} ${c.name}`).to.equal(slot.modules.length);
            slots++;
          }
        }
      }
    }
    expect(slots).to.be.above(500);
  });

  it('enumerates set partitions (Bell numbers)', () => {
    expect([1, 2, 3, 4, 5].map((n) => setPartitions(Array.from({ length: n }, (_, i) => i)).length)).to.deep.equal([1, 2, 5, 15, 52]);
  });

  describe('every bundled model on every bundled cluster', () => {
    for (const modelFile of bundled('models')) {
      for (const clusterFile of bundled('clusters')) {
        const name = `${modelFile.split('/').pop()} on ${clusterFile.split('/').pop()}`;
        it(name, async () => {
          const model = loadModel(modelFile);
          const cluster = loadCluster(clusterFile);
          let result;
          try {
            result = await planModel(model, cluster, undefined, { method: 'heuristic' });
          } catch (err) {
            // Not fitting is an answer, but it must say why.
            expect(err).to.be.instanceOf(MosaicError);
            expect((err as MosaicError).code).to.equal('E_INFEASIBLE');
            expect((err as MosaicError).message).to.match(/needs [\d.]+ GiB/);
            return;
          }
          for (const plan of result.plans) expect(validatePlan(plan), plan.provenance).to.deep.equal([]);
          // Every plan lies in the space its bound covers.
          for (const plan of result.plans) expect(Math.max(...plan.gpus.map((g) => g.slots.length)), plan.provenance).to.be.at.most(DEFAULT_MAX_SLOTS);
          const heuristic = result.heuristic!;
          expect(heuristic.provenance).to.match(/^(heuristic|baseline):/);
          const baselines = result.baselines.filter((b): b is { name: 'sequential'; plan: Plan } => 'plan' in b).map((b) => b.plan.prediction.iterationMs);
          expect(heuristic.prediction.iterationMs).to.be.at.most(Math.min(...baselines) * (1 + 1e-9));
          expect(heuristic.prediction.iterationMs).to.be.at.least(heuristic.prediction.lowerBoundMs);
        });
      }
    }
  });

  it('the validator catches a module left out, a batch not covered and an off-grid quota', async () => {
    const result = await planModel(loadModel(bundled('models').find((f) => f.includes('llava-1.5-7b'))!), loadCluster(bundled('clusters').find((f) => f.includes('h100-1x8'))!), undefined, { method: 'baseline' });
    const plan = result.plans[0];
    const dropModule: Plan = { ...plan, replicas: plan.replicas.filter((r) => r.module !== 'projector'), gpus: plan.gpus.map((g) => ({ ...g, slots: g.slots.map((s) => ({ ...s, modules: s.modules.filter((m) => m !== 'projector') })) })) };
    expect(validatePlan(dropModule).join('\n')).to.include('module projector: not placed on any GPU');
    const shortBatch: Plan = { ...plan, replicas: plan.replicas.map((r, i) => (i === 0 ? { ...r, samples: r.samples - 4 } : r)) };
    expect(validatePlan(shortBatch).join('\n')).to.match(/replicas cover \d+ samples, the global batch is 128/);
    const offGrid: Plan = { ...plan, gpus: plan.gpus.map((g, i) => (i === 0 ? { ...g, slots: g.slots.map((s) => ({ ...s, quotaFraction: 13 / 132, smCount: 13 })) } : g)) };
    expect(validatePlan(offGrid).join('\n')).to.include('13 SMs is not a partition size');
  });
});

describe('where colocation pays', () => {
  it('a module whose GEMMs cannot fill the GPU shares it with one that can, beating both baselines', async () => {
    // "narrow": 200 layers of 128 × 128 on 32 rows per sample (micro 4: one 128-row tile per GEMM, K = 128
    // too short to split): its time is the host's launches, whatever its SMs. "wide": as much work,
    // in GEMMs with plenty of tiles. Sequential leaves the GPU idle while narrow runs; exclusive gives
    // narrow a whole GPU it cannot use.
    const narrow = { ...explicitModule('narrow', 1e6, 4e11), arch: { type: 'mlp' as const, widths: Array.from({ length: 201 }, () => 128), bias: false, tokensPerSample: 32 } };
    const wide = explicitModule('wide', 1e6, 4e11, ['narrow']);
    const model = tinyModel([narrow, wide], { batch: { global: 32, micro: 4 } });
    // The heuristic alone: what is checked is its plan, and no solver clock is involved.
    const result = await planModel(model, tinyCluster({ gpusPerNode: 2 }), undefined, { method: 'heuristic' });
    const heuristic = result.heuristic!;
    expect(heuristic.provenance).to.match(/^heuristic:/);
    const baselines = result.plans.filter((p) => p.provenance.startsWith('baseline:'));
    for (const b of baselines) expect(heuristic.prediction.iterationMs).to.be.below(b.prediction.iterationMs * 0.9);
    expect(heuristic.gpus.some((g) => g.slots.length >= 2)).to.equal(true);
  });

  it('on slow links between nodes, the largest module is kept inside one node: LLaVA-1.5-13B on 4×8 H100 at 12.5 GB/s between nodes', async () => {
    const { model, cluster } = resolveProblem('llava-1.5-13b', 'h100-4x8');
    const slow = { ...cluster, name: 'h100-4x8-slow-links', links: { ...cluster.links, interNodeGBps: 12.5 } };
    const result = await planModel(model, slow, undefined, { method: 'heuristic' });
    const heuristic = result.heuristic!;
    const sequential = result.plans.find((p) => p.provenance === 'baseline:sequential')!;
    expect(heuristic.prediction.iterationMs).to.be.below(sequential.prediction.iterationMs * 0.9);
    // Every replica of the LLM on one node: its all-reduce stays on NVLink.
    const nodeOf = new Map(heuristic.gpus.flatMap((g) => g.slots.map((s) => [s.id, g.node] as const)));
    expect(new Set(heuristic.replicas.filter((r) => r.module === 'llm').map((r) => nodeOf.get(r.slot))).size).to.equal(1);
  });

  it('host-bound encoders run as several replicas per GPU, within the 4-slot space: OpenVLA-7B on 1×8 H100', async () => {
    const { model, cluster } = resolveProblem('openvla-7b', 'h100-1x8');
    const perf = buildPerfModel(model, cluster);
    // The best heuristic candidate with one replica of each module per GPU (every grouping water-filled, then local search).
    const single = heuristicCandidates(perf, [], 20).filter((c) => c.layout.every((e) => new Set(e.pattern.flatMap((s) => s.modules)).size === e.pattern.flatMap((s) => s.modules).length));
    expect(single.length).to.be.at.least(3);
    const oneReplicaPerGpu = Math.min(...single.map((c) => scoreLayout(perf, c.layout).simulation.iterationMs));
    const result = await planModel(model, cluster, undefined, { method: 'heuristic' });
    const heuristic = result.heuristic!;
    expect(heuristic.prediction.iterationMs).to.be.below(0.95 * oneReplicaPerGpu);
    expect(Math.max(...heuristic.gpus.map((g) => g.slots.length))).to.be.within(2, DEFAULT_MAX_SLOTS);
    const replicasPerGpu = Math.max(...heuristic.gpus.map((g) => g.slots.filter((s) => s.modules.includes('dinov2')).length));
    expect(replicasPerGpu, 'slots of one GPU hosting the DINOv2 encoder').to.be.at.least(2);
  });
});
