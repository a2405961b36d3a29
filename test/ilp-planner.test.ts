import { expect } from 'chai';
import * as path from 'path';
import { GUARD_MS, GUARD_SECONDS, ROOT } from './helpers/fixtures';
import { buildPerfModel } from '../src/perf/perf-model';
import { heuristicSeeds, layoutTheta, planIlp, PROVEN_GAP } from '../src/plan/ilp';
import { estimateLayoutMs } from '../src/plan/estimate';
import { validatePlan } from '../src/plan/validate';
import { loadCluster, loadModel } from '../src/spec/load';
import { createWorkerBackend } from '../solver/backends';
import { countsTheta, decodeCounts } from '../src/plan/throughput/decode';
import { buildPatternIlp, RATE_SCALE } from '../src/plan/throughput/pattern-ilp';
import { enumeratePatterns } from '../src/plan/throughput/patterns';

const bundled = (kind: string, name: string) => path.join(ROOT, 'datasets', kind, `${name}.json`);

describe('planIlp on bundled cases', function () {
  this.timeout(0); // solves are bounded by GUARD_SECONDS

  it('qwen2-vl-7b on h100-1x8: a validated plan, the fastest of the ILP own candidates, glpk and jslp agree', async () => {
    const perf = buildPerfModel(loadModel(bundled('models', 'qwen2-vl-7b')), loadCluster(bundled('clusters', 'h100-1x8')));
    const seeds = heuristicSeeds(perf);
    const [g, j] = await Promise.all([
      planIlp(perf, { solver: 'glpk', timeLimitSeconds: GUARD_SECONDS, seeds: seeds.layouts }),
      planIlp(perf, { solver: 'jslp', timeLimitSeconds: GUARD_SECONDS, seeds: seeds.layouts, nextBest: 0 }),
    ]);
    if ('infeasible' in g || 'infeasible' in j) throw new Error('expected a plan');
    expect(g.provenOptimal).to.equal(true);
    expect(validatePlan(g.best.plan)).to.deep.equal([]);
    expect(g.best.plan.provenance).to.equal('ilp');
    expect(g.best.plan.solver?.backend).to.equal('glpk');
    // The simulator picked the fastest of the ILP's own candidates (a seed that wins stays the heuristic's plan).
    for (const c of g.candidates) if (c.fits && c.name.startsWith('ilp-')) expect(g.best.simulation.iterationMs).to.be.at.most(c.simulatedMs! + 1e-9);
    // The ILP's linear optimum is at least as good as every seed's.
    for (const layout of seeds.layouts) expect(g.ilpLinearMs!).to.be.at.most(perf.microbatches / layoutTheta(perf, layout) * (1 + 1e-9));
    // Both proven: each is within PROVEN_GAP of the true optimum, so within 2·PROVEN_GAP of each other.
    if (j.provenOptimal) expect(Math.abs(j.ilpLinearMs! - g.ilpLinearMs!) / g.ilpLinearMs!).to.be.at.most(2 * PROVEN_GAP);
    // The linear objective ignores fill and sync, so it is below the estimate of the same layout.
    expect(g.ilpLinearMs!).to.be.at.most(estimateLayoutMs(perf, g.candidates[0].layout) + 1e-9);
  });

  it('says which module does not fit and what to change', async () => {
    const model = loadModel(bundled('models', 'llava-1.5-13b'));
    const perf = buildPerfModel({ ...model, batch: { global: 512, micro: 64 } }, loadCluster(bundled('clusters', 'h100-1x8')));
    const r = await planIlp(perf, { solver: 'glpk', timeLimitSeconds: GUARD_SECONDS, seeds: [] });
    expect(r).to.have.property('infeasible');
    expect((r as { infeasible: string }).infeasible).to.match(/module llm needs [\d.]+ GiB per GPU.*80 GiB.*micro-batch/);
  });

  it('a no-good cut excludes the optimum and the next answer is no better', async () => {
    const perf = buildPerfModel(loadModel(bundled('models', 'qwen2-vl-7b')), loadCluster(bundled('clusters', 'h100-1x8')));
    const set = enumeratePatterns(perf);
    const info = buildPatternIlp(set, 8);
    const first = await createWorkerBackend('glpk').solve(info.model, { timeLimitMs: GUARD_MS });
    expect(first.status).to.equal('optimal');
    const counts = decodeCounts(set, info, first.values!);
    const cut = buildPatternIlp(set, 8, [counts]);
    const second = await createWorkerBackend('glpk').solve(cut.model, { timeLimitMs: GUARD_MS });
    expect(second.status).to.equal('optimal');
    const next = decodeCounts(set, cut, second.values!);
    expect([...next].sort()).to.not.deep.equal([...counts].sort());
    expect(second.objective!).to.be.at.most(first.objective! * (1 + 1e-9));
    expect(Math.abs(countsTheta(set, next) * RATE_SCALE - second.objective!)).to.be.below(1e-6 * second.objective!);
  });
});
