import { expect } from 'chai';
import { buildPerfModel, type PerfModel } from '../src/perf/perf-model';
import { scoreLayout } from '../src/plan/make-plan';
import type { Layout } from '../src/plan/layout';
import { localCpuCluster } from '../src/spec/local-cpu';
import type { EngineCosts } from '../src/spec/types';
import { measureEngineCosts } from '../src/engine/profile';
import { loadNative } from '../src/engine/native';
import { explicitModule, tinyModel } from './helpers/fixtures';

const withCosts = (perf: PerfModel, engineCosts: EngineCosts): PerfModel => ({ ...perf, engineCosts });

describe('CPU engine costs in the performance model', () => {
  const cluster = localCpuCluster(2);

  it('adds the per-iteration cost once and the per-task cost to every task of a busy slot', () => {
    // One module on one slot: its tasks run back to back, so each task's extra cost lands on the critical path.
    const model = tinyModel([explicitModule('a', 1e5, 1e8)], { batch: { global: 16, micro: 4 } });
    const perf = buildPerfModel(model, cluster);
    const layout: Layout = [{ pattern: [{ modules: ['a'], quotaFraction: 1 }], count: 1 }];
    const base = scoreLayout(perf, layout).simulation.iterationMs;
    const costed = scoreLayout(withCosts(perf, { perGraphMs: 1, perTaskMs: 0.5, perHopMs: 7 }), layout).simulation.iterationMs;
    // 4 microbatches × (forward + backward) × 0.5 ms + 1 ms; no dependency crosses slots, so no hop.
    expect(costed - base).to.be.closeTo(4 * 2 * 0.5 + 1, 1e-9);
  });

  it('charges a dependency between two slots of the device, at least on the first forward and the last backward', () => {
    const model = tinyModel([explicitModule('a', 1e5, 1e8), explicitModule('b', 1e5, 1e8, ['a'])], { batch: { global: 16, micro: 4 } });
    const perf = buildPerfModel(model, cluster);
    const split: Layout = [{ pattern: [{ modules: ['a'], quotaFraction: 0.5 }, { modules: ['b'], quotaFraction: 0.5 }], count: 1 }];
    const shared: Layout = [{ pattern: [{ modules: ['a', 'b'], quotaFraction: 1 }], count: 1 }];
    const hop = 5;
    const costs = { perGraphMs: 0, perTaskMs: 0, perHopMs: hop };
    const splitBase = scoreLayout(perf, split).simulation.iterationMs;
    expect(scoreLayout(withCosts(perf, costs), split).simulation.iterationMs).to.be.at.least(splitBase + 2 * hop - 1e-9);
    // Modules time-sharing one slot (one context) pay no hop.
    expect(scoreLayout(withCosts(perf, costs), shared).simulation.iterationMs).to.be.closeTo(scoreLayout(perf, shared).simulation.iterationMs, 1e-9);
  });

  it('buildPerfModel takes the costs from a profile on CPU clusters only', () => {
    const model = tinyModel([explicitModule('a', 1e5, 1e8)]);
    const engine = { perGraphMs: 0.1, perTaskMs: 0.001, perHopMs: 0.01 };
    const profile = { model: model.name, device: cluster.gpu.name, samples: [], engine };
    expect(buildPerfModel(model, cluster, profile).engineCosts).to.deep.equal(engine);
    expect(buildPerfModel(model, { ...cluster, device: 'gpu' }, profile).engineCosts).to.equal(undefined);
  });

  it('measureEngineCosts returns finite, non-negative costs from the engine itself', async function () {
    const native = loadNative();
    if (!native.ok) this.skip();
    const cores = native.binding.cpuInfo().allowedCores;
    const costs = await measureEngineCosts(cores);
    for (const v of [costs.perGraphMs, costs.perTaskMs, costs.perHopMs]) {
      expect(Number.isFinite(v)).to.equal(true);
      expect(v).to.be.at.least(0);
    }
    // Not asserted: that a graph run costs more than a task (true on an idle machine, but a measured
    // comparison, which load can flip; the tests assert no timings).
    if (cores.length < 2) expect(costs.perHopMs).to.equal(0);
  });
});
