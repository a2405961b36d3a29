import { expect } from 'chai';
import { rng as mulberry32 } from './helpers/fixtures';
import { mkdtempSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import path from 'path';
import { MilpModel, ModelBuilder, evaluateTerms } from '../solver/model';
import {
  BackendName,
  CUTOFF_INFEASIBLE_MESSAGE,
  SolveResult,
  SolverBackend,
  createWorkerBackend,
  findViolations,
  solveWithFallback,
} from '../solver/backends';


const intIn = (rand: () => number, lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));

/** Multi-dimensional integer knapsack, some variables with negative lower bounds, max or min. */
function knapsack(seed: number): MilpModel {
  const rand = mulberry32(seed);
  const b = new ModelBuilder(`knapsack${seed}`);
  const n = intIn(rand, 3, 5);
  const vars = Array.from({ length: n }, (_, i) => {
    const lower = rand() < 0.3 ? -1 : 0;
    return b.addVariable(`n[p${i}]`, { lower, upper: lower + intIn(rand, 1, 3), integer: true });
  });
  for (let r = 0; r < intIn(rand, 1, 3); r++) {
    b.addRow(`cap[r${r}]`, vars.map((variable) => ({ variable, coefficient: intIn(rand, 1, 9) })), { upper: intIn(rand, 5, 20) });
  }
  b.setObjective(rand() < 0.7 ? 'max' : 'min', vars.map((variable) => ({ variable, coefficient: intIn(rand, -3, 12) })));
  return b.build();
}

/** Generalised assignment: each item to exactly one bin, bin capacities; may be infeasible. */
function assignment(seed: number): MilpModel {
  const rand = mulberry32(seed);
  const b = new ModelBuilder(`assign${seed}`);
  const items = intIn(rand, 2, 4);
  const bins = intIn(rand, 2, 3);
  const x = (i: number, j: number): string => `x[item${i},bin${j}]`;
  for (let i = 0; i < items; i++) for (let j = 0; j < bins; j++) b.addVariable(x(i, j), { upper: 1, integer: true });
  for (let i = 0; i < items; i++) {
    b.addRow(`assign[item${i}]`, Array.from({ length: bins }, (_, j) => ({ variable: x(i, j), coefficient: 1 })), { lower: 1, upper: 1 });
  }
  const objective = [];
  for (let j = 0; j < bins; j++) {
    const terms = [];
    for (let i = 0; i < items; i++) {
      terms.push({ variable: x(i, j), coefficient: intIn(rand, 1, 6) });
      objective.push({ variable: x(i, j), coefficient: intIn(rand, 1, 10) });
    }
    b.addRow(`cap[bin${j}]`, terms, { upper: intIn(rand, 3, 8) });
  }
  b.setObjective('min', objective);
  return b.build();
}

/** Enumerates every integer point; the reference optimum (undefined when infeasible). */
function bruteForce(model: MilpModel): number | undefined {
  const vars = model.variables;
  const values = new Map<string, number>();
  let best: number | undefined;
  const visit = (k: number): void => {
    if (k === vars.length) {
      if (findViolations(model, values, 1).length > 0) return;
      const z = evaluateTerms(model.objective, values);
      if (best === undefined || (model.sense === 'max' ? z > best : z < best)) best = z;
      return;
    }
    const v = vars[k] as (typeof vars)[number];
    for (let value = Math.ceil(v.lower); value <= Math.floor(v.upper); value++) {
      values.set(v.name, value);
      visit(k + 1);
    }
  };
  visit(0);
  return best;
}

/** Market split (Cornuéjols–Dawande): tiny, but hard for branch and bound. */
function marketSplit(seed: number, rows: number, cols: number): MilpModel {
  const rand = mulberry32(seed);
  const b = new ModelBuilder('market_split');
  const x = Array.from({ length: cols }, (_, j) => b.addVariable(`x[${j}]`, { upper: 1, integer: true }));
  for (let i = 0; i < rows; i++) {
    const coefficients = x.map(() => intIn(rand, 0, 99));
    const rhs = Math.floor(coefficients.reduce((s, c) => s + c, 0) / 2);
    b.addRow(`split[${i}]`, x.map((variable, j) => ({ variable, coefficient: coefficients[j] as number })), { lower: rhs, upper: rhs });
  }
  b.setObjective('max', x.map((variable) => ({ variable, coefficient: 1 })));
  return b.build();
}

/** Like market split but with `<=` rows and weights: x = 0 is feasible, so an incumbent comes early; proof is slow. */
function packing(seed: number, rows: number, cols: number): MilpModel {
  const rand = mulberry32(seed);
  const b = new ModelBuilder('packing');
  const x = Array.from({ length: cols }, (_, j) => b.addVariable(`x[${j}]`, { upper: 1, integer: true }));
  const weight = x.map(() => 0);
  for (let i = 0; i < rows; i++) {
    const coefficients = x.map(() => intIn(rand, 0, 99));
    coefficients.forEach((c, j) => (weight[j] = (weight[j] as number) + c));
    const rhs = Math.floor(coefficients.reduce((s, c) => s + c, 0) / 2);
    b.addRow(`pack[${i}]`, x.map((variable, j) => ({ variable, coefficient: coefficients[j] as number })), { upper: rhs });
  }
  b.setObjective('max', x.map((variable, j) => ({ variable, coefficient: weight[j] as number })));
  return b.build();
}

const BACKENDS: readonly BackendName[] = ['highs', 'glpk', 'jslp'];
const SEEDS = Array.from({ length: 24 }, (_, i) => 1000 + i);

describe('solver backends', function () {
  this.timeout(60000);
  const timings: Record<BackendName, number[]> = { highs: [], glpk: [], jslp: [] };

  after(() => {
    if (process.env['MOSAIC_SOLVER_TIMINGS']) {
      for (const name of BACKENDS) {
        const ms = [...timings[name]].sort((a, b) => a - b);
        console.log(`    ${name}: ${ms.length} solves, median ${ms[Math.floor(ms.length / 2)]} ms, max ${ms[ms.length - 1]} ms`);
      }
    }
  });

  for (const name of BACKENDS) {
    describe(name, () => {
      const backend = createWorkerBackend(name);

      it('finds the brute-force optimum on seeded random knapsack and assignment MILPs', async () => {
        let infeasibleSeen = 0;
        for (const seed of SEEDS) {
          for (const model of [knapsack(seed), assignment(seed)]) {
            const expected = bruteForce(model);
            const result = await backend.solve(model, { timeLimitMs: 10000 });
            timings[name].push(result.solveMs);
            const label = `${model.name} on ${name}: ${result.message ?? ''}`;
            if (expected === undefined) {
              infeasibleSeen++;
              expect(result.status, label).to.equal('infeasible');
            } else {
              expect(result.status, label).to.equal('optimal');
              expect(result.objective, label).to.be.closeTo(expected, 1e-6);
              expect(findViolations(model, result.values ?? new Map()), label).to.deep.equal([]);
            }
          }
        }
        // The generator must exercise both outcomes.
        expect(infeasibleSeen).to.be.greaterThan(0);
      });

      it('reports an infeasible model as infeasible', async () => {
        const b = new ModelBuilder('infeasible');
        b.addVariable('x', { upper: 3, integer: true });
        b.addVariable('y', { upper: 3, integer: true });
        b.addRow('low', [{ variable: 'x', coefficient: 1 }, { variable: 'y', coefficient: 1 }], { lower: 7 });
        b.setObjective('max', [{ variable: 'x', coefficient: 1 }]);
        const result = await backend.solve(b.build(), { timeLimitMs: 5000 });
        expect(result.status).to.equal('infeasible');
        expect(result.values).to.equal(undefined);
      });

      it('reports an infeasible LP (no integers) as infeasible', async () => {
        const b = new ModelBuilder('infeasible_lp');
        b.addVariable('x', { upper: 3 });
        b.addRow('low', [{ variable: 'x', coefficient: 1 }], { lower: 4 });
        b.setObjective('min', [{ variable: 'x', coefficient: 1 }]);
        expect((await backend.solve(b.build(), { timeLimitMs: 5000 })).status).to.equal('infeasible');
      });

      it("reports an unbounded LP as 'error' with message 'unbounded'", async () => {
        const b = new ModelBuilder('unbounded');
        b.addVariable('x');
        b.addVariable('y');
        b.addRow('diff', [{ variable: 'x', coefficient: 1 }, { variable: 'y', coefficient: -1 }], { upper: 1 });
        b.setObjective('max', [{ variable: 'x', coefficient: 1 }]);
        const result = await backend.solve(b.build(), { timeLimitMs: 5000 });
        expect(result.status).to.equal('error');
        expect(result.message).to.equal('unbounded');
      });

      it('returns promptly with timeLimit or feasible on a hard model with a tiny time limit', async () => {
        const timeLimitMs = 300;
        const started = Date.now();
        const result = await backend.solve(marketSplit(7, 4, 40), { timeLimitMs });
        const elapsed = Date.now() - started;
        expect(['timeLimit', 'feasible'], result.message).to.include(result.status);
        expect(elapsed).to.be.below(timeLimitMs + 3000);
        if (result.values) expect(findViolations(marketSplit(7, 4, 40), result.values)).to.deep.equal([]);
      });

      it("reports an unbounded MILP as 'error' with message 'unbounded'", async () => {
        const b = new ModelBuilder('unbounded_mip');
        b.addVariable('x', { integer: true });
        b.addVariable('y', { integer: true, lower: -Infinity });
        b.addRow('diff', [{ variable: 'x', coefficient: 1 }, { variable: 'y', coefficient: -1 }], { upper: 1.5 });
        b.setObjective('max', [{ variable: 'x', coefficient: 1 }]);
        const result = await backend.solve(b.build(), { timeLimitMs: 5000 });
        expect(result.status).to.equal('error');
        expect(result.message).to.equal('unbounded');
      });

      it('returns a checked incumbent when the time limit strikes after one was found', async () => {
        const model = packing(7, 4, 40);
        const started = Date.now();
        const result = await backend.solve(model, { timeLimitMs: 300 });
        expect(Date.now() - started).to.be.below(300 + 3000);
        expect(['timeLimit', 'feasible'], result.message).to.include(result.status);
        if (result.values) {
          expect(findViolations(model, result.values)).to.deep.equal([]);
          expect(result.objective).to.equal(evaluateTerms(model.objective, result.values));
        }
      });

      it('keeps the event loop free while solving', async () => {
        let ticks = 0;
        const interval = setInterval(() => ticks++, 10);
        await backend.solve(marketSplit(7, 4, 40), { timeLimitMs: 400 });
        clearInterval(interval);
        expect(ticks).to.be.greaterThan(20);
      });

      it('applies a cutoff row only when asked, and names the unreachable case', async () => {
        const model = knapsack(SEEDS[0] as number);
        const optimum = bruteForce(model) as number;
        const beyond = model.sense === 'max' ? optimum + 1 : optimum - 1;
        const ignored = await backend.solve(model, { timeLimitMs: 5000, cutoff: beyond });
        expect(ignored.status).to.equal('optimal');
        const unreachable = await backend.solve(model, { timeLimitMs: 5000, cutoff: beyond, cutoffAsRow: true });
        expect(unreachable.status).to.equal('infeasible');
        expect(unreachable.message).to.equal(CUTOFF_INFEASIBLE_MESSAGE);
        const reachable = await backend.solve(model, { timeLimitMs: 5000, cutoff: optimum, cutoffAsRow: true });
        expect(reachable.status).to.equal('optimal');
        expect(reachable.objective).to.be.closeTo(optimum, 1e-6);
      });
    });
  }

  describe('solveWithFallback', () => {
    const model = knapsack(SEEDS[1] as number);
    const throwing = (name: BackendName): SolverBackend => ({
      name,
      solve: () => Promise.reject(new Error('injected failure')),
    });
    const failing = (name: BackendName): SolverBackend => ({
      name,
      solve: async (): Promise<SolveResult> => ({ backend: name, status: 'error', solveMs: 0, message: 'injected error status' }),
    });

    it('falls back to jslp when glpk throws, and says so', async () => {
      const result = await solveWithFallback(model, { timeLimitMs: 5000 }, 'glpk', { backends: { glpk: throwing('glpk') } });
      expect(result.backend).to.equal('jslp');
      expect(result.status).to.equal('optimal');
      expect(result.objective).to.be.closeTo(bruteForce(model) as number, 1e-6);
      expect(result.message).to.match(/^glpk failed \(.*injected failure.*\); fell back to jslp/);
    });

    it('falls back to glpk when jslp returns an error status', async () => {
      const result = await solveWithFallback(model, { timeLimitMs: 5000 }, 'jslp', { backends: { jslp: failing('jslp') } });
      expect(result.backend).to.equal('glpk');
      expect(result.status).to.equal('optimal');
      expect(result.message).to.match(/^jslp failed \(injected error status\); fell back to glpk/);
    });

    it('does not fall back when the preferred backend succeeds', async () => {
      const result = await solveWithFallback(model, { timeLimitMs: 5000 }, 'glpk', { backends: { jslp: throwing('jslp') } });
      expect(result.backend).to.equal('glpk');
      expect(result.message).to.equal(undefined);
    });

    it('returns an error value (not an exception) when both fail', async () => {
      const result = await solveWithFallback(model, { timeLimitMs: 5000 }, 'glpk', { backends: { glpk: throwing('glpk'), jslp: failing('jslp') } });
      expect(result.status).to.equal('error');
      expect(result.message).to.contain('glpk failed').and.to.contain('jslp failed too');
    });

    it('kills a worker that ignores its time limit and returns timeLimit without values', async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'mosaic-solver-'));
      const hanging = path.join(dir, 'hanging-worker.js');
      writeFileSync(hanging, 'for (;;) {}\n');
      const backend = createWorkerBackend('jslp', { workerPath: hanging, graceMs: 200 });
      const started = Date.now();
      const result = await backend.solve(model, { timeLimitMs: 200 });
      expect(Date.now() - started).to.be.below(200 + 3000);
      expect(result.status).to.equal('timeLimit');
      expect(result.values).to.equal(undefined);
      expect(result.message).to.contain('killed at the deadline');
    });

    it('reports a worker that cannot start as an error and falls back', async () => {
      const broken = createWorkerBackend('glpk', { workerPath: '/nonexistent/solver-worker.js' });
      const result = await solveWithFallback(model, { timeLimitMs: 5000 }, 'glpk', { backends: { glpk: broken } });
      expect(result.backend).to.equal('jslp');
      expect(result.message).to.match(/^glpk failed \(solver worker not found/);
    });
  });
});
