import { expect } from 'chai';
import { buildPerfModel, type PerfModel } from '../src/perf/perf-model';
import type { ClusterSpec, ModelSpec, ModuleSpec } from '../src/spec/types';
import { createWorkerBackend, type BackendName, type SolveResult } from '../solver/backends';
import type { MilpModel } from '../solver/model';
import { bruteForceCounts, bruteForceSlots } from './helpers/ilp-brute-force';
import { buildAssignmentIlp } from '../src/plan/throughput/assignment-ilp';
import { buildPatternIlp, RATE_SCALE } from '../src/plan/throughput/pattern-ilp';
import { enumeratePatterns, type PatternSet } from '../src/plan/throughput/patterns';
import { countsTheta, decodeCounts } from '../src/plan/throughput/decode';
import { GUARD_MS, rng } from './helpers/fixtures';

const intIn = (rand: () => number, lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
const logUniform = (rand: () => number, lo: number, hi: number): number => Math.exp(Math.log(lo) + rand() * (Math.log(hi) - Math.log(lo)));

type Instance = { seed: number; perf: PerfModel; gpus: number; set: PatternSet; levels: number };

/** A small random case: 1–4 explicit modules in a chain or a fan-in, 1–4 GPUs of 40 SMs, 3–5 quota levels. */
function instance(seed: number): Instance {
  const rand = rng(seed);
  const count = intIn(rand, 1, 4);
  const gpus = intIn(rand, 1, count === 4 ? 3 : 4);
  const step = rand() < 0.7 ? 8 : 16; // 5 levels (8..40) or 3 levels (8, 24, 40)
  const modules: ModuleSpec[] = Array.from({ length: count }, (_, i) => ({
    name: `m${i}`,
    kind: 'modality-encoder',
    arch: {
      type: 'explicit',
      params: Math.round(logUniform(rand, 2e7, 1.2e9)),
      forwardFlopsPerSample: logUniform(rand, 1e9, 3e11),
      activationBytesPerSample: logUniform(rand, 1e6, 2e9),
      gemmRowsPerSample: intIn(rand, 16, 2048),
      gemmCols: intIn(rand, 256, 4096),
    },
    trainable: rand() < 0.6,
    inputs: i === 0 ? [] : [`m${intIn(rand, 0, i - 1)}`],
    outputElementsPerSample: intIn(rand, 1000, 1e6),
    source: 'synthetic test instance',
  }));
  const micro = intIn(rand, 1, 4);
  const model: ModelSpec = {
    name: `random${seed}`,
    description: 'synthetic',
    precision: 'bf16',
    optimizer: { name: 'adamw', stateBytesPerParam: 12, zeroStage: intIn(rand, 0, 3) as 0 | 1 | 2 | 3 },
    batch: { global: micro * intIn(rand, 2, 16), micro },
    activationCheckpointing: rand() < 0.5,
    modules,
    sources: ['synthetic'],
  };
  const cluster: ClusterSpec = {
    name: `tiny${seed}`,
    description: 'synthetic',
    device: 'gpu',
    nodes: 1,
    gpusPerNode: gpus,
    gpu: { name: 'tiny-gpu', smCount: 40, smGranularity: { min: 8, step }, peakTflops: logUniform(rand, 50, 400), hbmGBps: logUniform(rand, 500, 3000), memoryGiB: intIn(rand, 4, 32), gemmTile: 128 },
    links: { intraNodeGBps: 100, interNodeGBps: 10, latencyUs: 5 },
  };
  const perf = buildPerfModel(model, cluster);
  const set = enumeratePatterns(perf, { maxSlots: 4, maxPatterns: 1e6 });
  return { seed, perf, gpus, set, levels: step === 8 ? 5 : 3 };
}

async function solve(model: MilpModel, backend: BackendName, timeLimitMs: number): Promise<SolveResult> {
  return createWorkerBackend(backend).solve(model, { timeLimitMs });
}

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.max(1e-12, Math.abs(a), Math.abs(b)) || Math.abs(a - b) < 1e-12;
const thetaOf = (r: SolveResult) => (r.objective ?? 0) / RATE_SCALE;

describe('exact ILP: pattern and assignment forms against brute force on random small instances', function () {
  this.timeout(0); // glpk and HiGHS are bounded by GUARD_MS; jslp keeps 3 s (its phase 1 can loop: only an optimal jslp answer is compared)
  const SEEDS = Array.from({ length: 56 }, (_, i) => 1000 + i);
  const outcome = { feasible: 0, slotChecked: 0, jslpCompared: 0, memoryBinding: 0 };

  for (const seed of SEEDS) {
    it(`instance ${seed}: ILP θ = brute-force θ (over counts, and over raw slots where tiny), glpk = highs = jslp, pattern = assignment`, async () => {
      const inst = instance(seed);
      const { set, gpus, perf } = inst;
      const counts = bruteForceCounts(set, gpus);
      const pattern = buildPatternIlp(set, gpus);
      const assignment = buildAssignmentIlp(set, gpus);
      const [pg, ag, pj, ph] = await Promise.all([solve(pattern.model, 'glpk', GUARD_MS), solve(assignment.model, 'glpk', GUARD_MS), solve(pattern.model, 'jslp', 3_000), solve(pattern.model, 'highs', GUARD_MS)]);
      expect(pg.status, `glpk pattern ${pg.message ?? ''}`).to.equal('optimal');
      expect(ag.status, `glpk assignment ${ag.message ?? ''}`).to.equal('optimal');
      expect(close(thetaOf(pg), counts.theta), `pattern ILP θ ${thetaOf(pg)} vs brute force ${counts.theta}`).to.equal(true);
      expect(close(thetaOf(ag), thetaOf(pg)), `assignment θ ${thetaOf(ag)} vs pattern θ ${thetaOf(pg)}`).to.equal(true);
      expect(ph.status, `highs pattern ${ph.message ?? ''}`).to.equal('optimal');
      expect(close(thetaOf(ph), thetaOf(pg)), `highs θ ${thetaOf(ph)} vs glpk θ ${thetaOf(pg)}`).to.equal(true);
      // The decoded counts reproduce the objective.
      expect(close(countsTheta(set, decodeCounts(set, pattern, pg.values!)), thetaOf(pg))).to.equal(true);
      if (pj.status === 'optimal') {
        outcome.jslpCompared++;
        expect(close(thetaOf(pj), thetaOf(pg)), `jslp θ ${thetaOf(pj)} vs glpk θ ${thetaOf(pg)}`).to.equal(true);
      }
      if (counts.theta > 0) outcome.feasible++;
      if (set.patterns.some((p) => p.requires.size > 0) || set.memoryRejected > 0) outcome.memoryBinding++;
      if (perf.order.length <= 3 && gpus <= 3) {
        const slots = bruteForceSlots(perf, gpus, set.maxSlots, set.memory, set.capacityBytes);
        expect(close(slots.theta, counts.theta), `slot brute force θ ${slots.theta} vs pattern brute force ${counts.theta}`).to.equal(true);
        outcome.slotChecked++;
      }
    });
  }

  it('covered enough kinds of instance to mean something', () => {
    // Feasible ones, ones where memory forces ZeRO requirements or rejects module sets, and jslp agreement.
    expect(outcome.feasible, JSON.stringify(outcome)).to.be.at.least(30);
    expect(outcome.memoryBinding, JSON.stringify(outcome)).to.be.at.least(10);
    expect(outcome.slotChecked, JSON.stringify(outcome)).to.be.at.least(20);
    expect(outcome.jslpCompared, JSON.stringify(outcome)).to.be.at.least(20);
  });
});

describe('pattern enumeration', () => {
  it('keeps only patterns no one-level raise dominates, within the SMs, with rates from the model', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const { set, perf } = instance(seed);
      for (const p of set.patterns) {
        const sms = p.pattern.reduce((s, slot) => s + Math.round(slot.quotaFraction * 40), 0);
        expect(sms).to.be.at.most(40);
        expect(p.memoryBytes).to.be.at.most(set.capacityBytes);
        expect(new Set(p.pattern.flatMap((s) => s.modules)).size).to.equal(p.pattern.flatMap((s) => s.modules).length);
        expect(p.pattern.length).to.be.at.most(set.maxSlots);
        for (const m of p.rates.keys()) expect(perf.order).to.include(m);
      }
    }
  });

  it('coarsens the quota grid, and says so, when the cap is hit', () => {
    // The instance with the most patterns among the first seeds.
    const { perf, set: full } = Array.from({ length: 30 }, (_, i) => instance(1000 + i)).reduce((a, b) => (b.set.patterns.length > a.set.patterns.length ? b : a));
    expect(full.patterns.length).to.be.greaterThan(10);
    expect(full.levelStride).to.equal(1);
    const cap = Math.floor(full.patterns.length / 2);
    const capped = enumeratePatterns(perf, { maxPatterns: cap });
    expect(capped.patterns.length).to.be.at.most(cap);
    expect(capped.levelStride).to.be.greaterThan(1);
    expect(capped.levels.length).to.be.lessThan(full.levels.length);
    expect(capped.levels[capped.levels.length - 1]).to.equal(1);
    expect(capped.notes.join(' ')).to.match(/coarsened/);
  });
});
