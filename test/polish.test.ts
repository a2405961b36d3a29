import { expect } from 'chai';
import { buildPerfModel } from '../src/perf/perf-model';
import { scoreLayout, scorePlacement, toPlan } from '../src/plan/make-plan';
import { waterFill } from '../src/plan/heuristic';
import { polishPlacement } from '../src/plan/polish';
import { resolveProblem } from '../src/spec/resolve';
import type { PlanGpu } from '../src/spec/plan';
import { rng } from './helpers/fixtures';
import { randomFittingPlans, tinyInstance } from './helpers/random-instances';

/** The simulator's polish (src/plan/polish.ts): never slower, always valid, and it does find moves. */
describe('polish of a plan by the simulator', () => {
  it('on up to 40 random plans of 20 random instances: valid plans, never slower, never over memory, faster on most', () => {
    let improved = 0;
    let tried = 0;
    let relocated = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const { model, cluster } = tinyInstance(seed);
      const perf = buildPerfModel(model, cluster);
      const capacity = perf.capacityBytes;
      for (const plan of randomFittingPlans(perf, rng(4000 + seed), 2, 5000)) {
        const start = scorePlacement(perf, plan.gpus, plan.replicas);
        tried++;
        const { scored, moves, simulations } = polishPlacement(perf, start, { maxSimulations: 100 });
        expect(simulations).to.be.at.most(100);
        expect(scored.simulation.iterationMs).to.be.at.most(start.simulation.iterationMs);
        expect(Math.max(...scored.memoryBytes)).to.be.at.most(capacity);
        // toPlan runs the independent validator and throws on any problem.
        expect(() => toPlan(perf, scored, 'heuristic:polish-of-test')).to.not.throw();
        if (moves > 0) {
          expect(scored.simulation.iterationMs).to.be.below(start.simulation.iterationMs);
          improved++;
        }
        // A relocation keeps a replica (module, index) but changes its slot; a microbatch move never does.
        const slotOf = new Map(plan.replicas.map((r) => [`${r.module}#${r.index}`, r.slot]));
        if (scored.replicas.some((r) => slotOf.has(`${r.module}#${r.index}`) && slotOf.get(`${r.module}#${r.index}`) !== r.slot)) relocated++;
      }
    }
    // Some instances have no random plan that fits in memory within the tries.
    expect(tried).to.be.at.least(30);
    expect(improved).to.be.above(tried / 2);
    expect(relocated, 'plans improved by moving a module to another slot of its GPUs').to.be.at.least(1);
  });

  it('gives a host-bound encoder more replicas on each GPU (a share or a split): PaliGemma-3B on 1×8 H100 from a water-filled layout with one slot per module group', () => {
    const { model, cluster } = resolveProblem('paligemma-3b', 'h100-1x8');
    const perf = buildPerfModel(model, cluster);
    const start = scoreLayout(perf, [{ pattern: waterFill(perf, [['vision'], ['projector', 'llm']], perf.gpuCount)!, count: perf.gpuCount }]);
    const { scored } = polishPlacement(perf, start);
    const slotsOf = (p: { gpus: readonly PlanGpu[] }, module: string) => Math.max(...p.gpus.map((g) => g.slots.filter((s) => s.modules.includes(module)).length));
    expect(slotsOf(start, 'vision')).to.equal(1);
    expect(slotsOf(scored, 'vision'), 'slots of one GPU hosting the vision encoder').to.be.at.least(2);
    expect(scored.simulation.iterationMs).to.be.below(0.9 * start.simulation.iterationMs);
    expect(() => toPlan(perf, scored, 'heuristic:polish-of-test')).to.not.throw();
  });
});
