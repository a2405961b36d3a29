import { expect } from 'chai';
import { MosaicError } from '../src/errors';
import { buildPerfModel } from '../src/perf/perf-model';
import { exactSearch } from '../src/plan/exact/search';
import { planModel } from '../src/plan/planner';
import { bruteForcePlans, type BruteForce } from './helpers/brute-force-plans';
import { GUARD_SECONDS } from './helpers/fixtures';
import { exactInstance, type Instance } from './helpers/random-instances';

/**
 * The exact planner against brute force over concrete plans (every layout of at most 2 slots per GPU on
 * 1–2 nodes, repeated modules, every microbatch split), scored by the simulator, on 50 seeded tiny
 * instances (2–4 modules, 2–4 GPUs, 3–5 quota levels, memory binding in some). The brute-force space is
 * a part of the planner's (≤ 4 slots), so its best is never below a valid bound.
 */
const SEEDS = Array.from({ length: 50 }, (_, i) => i + 1);
const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const brute = new Map<number, { instance: Instance; result: BruteForce }>();
function bruteOf(seed: number) {
  let b = brute.get(seed);
  if (!b) {
    const instance = exactInstance(seed);
    brute.set(seed, (b = { instance, result: bruteForcePlans(buildPerfModel(instance.model, instance.cluster), 2) }));
  }
  return b;
}

describe('exact planning against brute force on 50 tiny instances', function () {
  this.timeout(0); // each solve is bounded by GUARD_SECONDS
  const gaps: number[] = [];
  for (const seed of SEEDS) {
    it(`instance ${seed}: bound ≤ brute-force best, final ≤ brute-force best × (1 + gap), gap ≤ 2%, exit 3 exactly when nothing fits`, async () => {
      const { instance, result: b } = bruteOf(seed);
      let result;
      try {
        result = await planModel(instance.model, instance.cluster, undefined, { method: 'all', timeLimitSeconds: GUARD_SECONDS });
      } catch (err) {
        expect(err).to.be.instanceOf(MosaicError);
        expect((err as MosaicError).code).to.equal('E_INFEASIBLE');
        expect(b.bestMs, 'brute force found a plan the planner said cannot exist').to.equal(Infinity);
        return;
      }
      const best = result.best;
      expect(b.bestMs, 'the planner found a plan where brute force found none').to.be.below(Infinity);
      // These spaces are small enough to walk: the bound is the enumeration's, not the relaxation's.
      expect(result.bound.method).to.equal('enumeration: every plan simulated or ruled out');
      expect(result.bound.boundMs).to.be.at.most(b.bestMs * (1 + 1e-9));
      expect(best.prediction.iterationMs).to.be.at.most(b.bestMs * (1 + best.bound!.gap) * (1 + 1e-9));
      expect(best.bound!.gap).to.be.at.most(0.02);
      gaps.push(best.bound!.gap);
    });
  }
  after(() => {
    if (gaps.length > 0) process.stdout.write(`\n    exactness: ${gaps.length} instances with a plan, reported gap median ${(100 * median(gaps)).toFixed(2)}%, max ${(100 * Math.max(...gaps)).toFixed(2)}%\n`);
  });
});

/**
 * The relaxation alone (enumeration off), as it runs on clusters too large to walk: its bound must stay
 * below the brute-force best. A short time limit: validity does not need convergence.
 */
describe('the relaxation alone against brute force on the same instances', function () {
  this.timeout(0);
  const gaps: number[] = [];
  for (const seed of SEEDS.filter((s) => s % 2 === 1)) {
    it(`instance ${seed}: the relaxation's bound ≤ brute-force best`, async function () {
      const { instance, result: b } = bruteOf(seed);
      if (b.bestMs === Infinity) this.skip(); // nothing fits: nothing to bound
      const perf = buildPerfModel(instance.model, instance.cluster);
      const r = await exactSearch(perf, b.bestMs, { maxLayouts: 0, timeLimitMs: 3000 });
      expect(r.stopped).to.not.equal('enumerated');
      expect(r.boundMs).to.be.at.most(b.bestMs * (1 + 1e-9));
      gaps.push(b.bestMs / r.boundMs - 1);
    });
  }
  after(() => {
    if (gaps.length > 0) process.stdout.write(`\n    relaxation alone: ${gaps.length} instances, brute-force best over its bound median +${(100 * median(gaps)).toFixed(2)}%, max +${(100 * Math.max(...gaps)).toFixed(2)}%\n`);
  });
});
