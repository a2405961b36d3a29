import { expect } from 'chai';
import * as path from 'path';
import { planModel } from '../src/plan/planner';
import { validatePlan } from '../src/plan/validate';
import { loadCluster, loadModel } from '../src/spec/load';
import { withBatch } from '../src/spec/resolve';
import { ROOT } from './helpers/fixtures';

/** The encoder-heavy catalogue (issue 9 item 8), each at micro-batch 1 on one H100 and one A100 node. */
const CATALOGUE = ['qwen2-vl-2b', 'internvl2-2b', 'paligemma-3b', 'openvla-7b', 'internvl2-1b-6cam'];

describe('catalogue: encoder-heavy models plan at micro-batch 1 on H100 and A100', () => {
  for (const name of CATALOGUE) {
    for (const cluster of ['h100-1x8', 'a100-1x8']) {
      it(`${name} on ${cluster}: every plan valid, the heuristic no slower than the baselines`, async () => {
        const model = withBatch(loadModel(path.join(ROOT, 'datasets/models', `${name}.json`)), undefined, 1);
        const result = await planModel(model, loadCluster(path.join(ROOT, 'datasets/clusters', `${cluster}.json`)), undefined, { method: 'heuristic' });
        // openvla-7b on h100-1x8 once split a 132-SM slot into 8 + 124 SMs, off the 8+8k grid.
        for (const plan of result.plans) expect(validatePlan(plan), plan.provenance).to.deep.equal([]);
        const baselines = result.baselines.flatMap((b) => ('plan' in b ? [b.plan.prediction.iterationMs] : []));
        expect(result.best.prediction.iterationMs).to.be.at.most(Math.min(...baselines) * (1 + 1e-9));
      });
    }
  }

  it('video, tiles and camera views are separate attention sequences', () => {
    const seqs = Object.fromEntries(['qwen2-vl-2b', 'internvl2-2b', 'internvl2-1b-6cam'].map((n) => {
      const vision = loadModel(path.join(ROOT, 'datasets/models', `${n}.json`)).modules.find((m) => m.name === 'vision')!;
      return [n, vision.arch.type === 'transformer' ? [vision.arch.tokensPerSample, vision.arch.sequencesPerSample] : []];
    }));
    expect(seqs).to.deep.equal({ 'qwen2-vl-2b': [8192, 8], 'internvl2-2b': [7175, 7], 'internvl2-1b-6cam': [6150, 6] });
  });
});
