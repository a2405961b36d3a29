import { expect } from 'chai';
import { buildPerfModel } from '../src/perf/perf-model';
import { simulateIteration } from '../src/perf/simulate';
import { planLowerBound } from '../src/plan/exact/plan-bound';
import { boundTerms } from '../src/plan/exact/terms';
import { rng } from './helpers/fixtures';
import { exactSearch } from '../src/plan/exact/search';
import { heuristicSeeds } from '../src/plan/ilp';
import { randomFittingPlans, randomPlan, tinyInstance } from './helpers/random-instances';

describe('lower bound of a plan (src/plan/exact/plan-bound.ts)', function () {
  this.timeout(120000);
  it('never exceeds the simulated iteration time: 1,200 random valid plans on 60 random instances', () => {
    let checked = 0;
    let tightest = Infinity;
    for (let seed = 1; seed <= 60; seed++) {
      const { model, cluster } = tinyInstance(seed);
      const perf = buildPerfModel(model, cluster);
      const terms = boundTerms(perf, 4);
      const random = rng(1000 + seed);
      for (let k = 0; k < 20; ) {
        const plan = randomPlan(perf, random);
        if (!plan) continue;
        k++;
        const sim = simulateIteration(perf, plan.gpus, plan.replicas);
        const { boundMs, binding } = planLowerBound(terms, plan.gpus, plan.replicas);
        expect(boundMs, `seed ${seed} plan ${k}: ${binding}`).to.be.at.most(sim.iterationMs * (1 + 1e-9));
        tightest = Math.min(tightest, sim.iterationMs / boundMs);
        checked++;
      }
    }
    expect(checked).to.equal(1200);
    // The bound is not vacuous: on some plan it is within 1% of the simulation.
    expect(tightest).to.be.below(1.01);
  });
});

describe('bound over the plan space (src/plan/exact/search.ts)', function () {
  this.timeout(600000);
  it('no random valid plan simulates faster than the proven bound, enumerated where the space is small and relaxed: 1,200 plans that fit in memory, 20 random instances', async () => {
    let checked = 0;
    let enumerated = 0;
    for (let seed = 100; seed < 120; seed++) {
      const { model, cluster } = tinyInstance(seed);
      const perf = buildPerfModel(model, cluster);
      const seeds = heuristicSeeds(perf, 4);
      const incumbent = seeds.best?.scored.simulation.iterationMs ?? Infinity;
      const exact = await exactSearch(perf, incumbent, { timeLimitMs: 4000 });
      if (exact.stopped === 'enumerated') enumerated++;
      // The relaxation alone too, on every instance (the enumeration replaces it where it completes).
      const relaxed = await exactSearch(perf, incumbent, { timeLimitMs: 2000, maxLayouts: 0 });
      for (const plan of randomFittingPlans(perf, rng(5000 + seed), 60)) {
        const sim = simulateIteration(perf, plan.gpus, plan.replicas);
        expect(exact.boundMs, `seed ${seed} plan ${checked}`).to.be.at.most(sim.iterationMs * (1 + 1e-9));
        expect(relaxed.boundMs, `seed ${seed} plan ${checked} (relaxation)`).to.be.at.most(sim.iterationMs * (1 + 1e-9));
        checked++;
      }
      if (seeds.best) expect(exact.boundMs).to.be.at.most(seeds.best.scored.simulation.iterationMs * (1 + 1e-9));
    }
    expect(checked).to.be.at.least(1000);
    expect(enumerated, 'instances whose space was enumerated').to.be.at.least(3);
  });
});
