import { expect } from 'chai';
import { MosaicError } from '../src/errors';
import { buildPerfModel } from '../src/perf/perf-model';
import { planModel } from '../src/plan/planner';
import { bruteForcePlans } from './helpers/brute-force-plans';
import { GUARD_SECONDS } from './helpers/fixtures';
import { bruteInstance } from './helpers/random-instances';

/**
 * The exact planner against brute force over concrete plans (every layout of at most 2 slots per GPU,
 * repeated modules, every microbatch split), scored by the simulator. The brute-force space is a part
 * of the planner's (≤ 4 slots), so its best is never below the bound.
 */
describe('exact planning against brute force on tiny instances', function () {
  this.timeout(0); // each solve is bounded by GUARD_SECONDS
  const gaps: number[] = [];
  for (let seed = 1; seed <= 12; seed++) {
    it(`instance ${seed}: bound ≤ brute-force best, final ≤ brute-force best × (1 + gap), exit 3 exactly when nothing fits`, async () => {
      const { model, cluster } = bruteInstance(seed);
      const brute = bruteForcePlans(buildPerfModel(model, cluster), 2);
      let result;
      try {
        result = await planModel(model, cluster, undefined, { method: 'all', timeLimitSeconds: GUARD_SECONDS });
      } catch (err) {
        expect(err).to.be.instanceOf(MosaicError);
        expect((err as MosaicError).code).to.equal('E_INFEASIBLE');
        expect(brute.bestMs, 'brute force found a plan the planner said cannot exist').to.equal(Infinity);
        return;
      }
      const best = result.best;
      expect(brute.bestMs, 'the planner found a plan where brute force found none').to.be.below(Infinity);
      expect(result.bound.boundMs).to.be.at.most(brute.bestMs * (1 + 1e-9));
      expect(best.prediction.iterationMs).to.be.at.most(brute.bestMs * (1 + best.bound!.gap) * (1 + 1e-9));
      gaps.push(best.bound!.gap);
    });
  }
  after(() => {
    if (gaps.length > 0) {
      const sorted = [...gaps].sort((a, b) => a - b);
      process.stdout.write(`\n    exactness: ${gaps.length} instances, reported gap median ${(100 * sorted[Math.floor(sorted.length / 2)]).toFixed(2)}%, max ${(100 * sorted[sorted.length - 1]).toFixed(2)}%\n`);
    }
  });
});
