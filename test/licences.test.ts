import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { hideBackendsForTesting, solveWithFallback, type BackendName, type SolveResult, type SolverBackend } from '../solver/backends';
import { ROOT } from './helpers/fixtures';
import { runCliInProcess, STACK_FRAME } from './helpers/run-cli';

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const licenceOf = (name: string): string => JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).license;

describe('licences: stated correctly, GPL code optional, a missing backend said plainly', () => {
  it('LICENSE is the MIT licence package.json declares', () => {
    expect(pkg.license).to.equal('MIT');
    const text = fs.readFileSync(path.join(ROOT, 'LICENSE'), 'utf8');
    expect(text).to.match(/^MIT License/).and.to.include('Mosaic authors');
  });

  it("THIRD_PARTY.md gives every dependency the licence of its own package.json; glpk.js is optional", () => {
    const table = fs.readFileSync(path.join(ROOT, 'THIRD_PARTY.md'), 'utf8');
    const all = { ...pkg.dependencies, ...pkg.optionalDependencies };
    for (const name of Object.keys(all)) {
      const row = table.split('\n').find((l) => l.startsWith(`| \`${name}\` |`));
      expect(row, name).to.be.a('string');
      const stated = row!.split('|')[2]!.trim();
      expect(stated.startsWith(licenceOf(name)), `${name}: stated "${stated}", package says "${licenceOf(name)}"`).to.equal(true);
    }
    expect(licenceOf('javascript-lp-solver')).to.equal('Unlicense');
    expect(pkg.dependencies).not.to.have.property('glpk.js');
    expect(pkg.optionalDependencies).to.have.property('glpk.js');
    const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
    expect(lock.packages['node_modules/glpk.js'].optional).to.equal(true);
    expect(lock.packages[''].optionalDependencies).to.deep.equal(pkg.optionalDependencies);
  });

  describe('with glpk.js not installed', () => {
    before(() => hideBackendsForTesting(['glpk']));
    after(() => hideBackendsForTesting([]));

    it('--solver glpk is one line, exit 2, before any work; no silent switch to another backend', async () => {
      for (const args of [
        ['plan', '-m', 'qwen-audio', '-c', 'h100-1x8', '--method', 'ilp', '--solver', 'glpk'],
        ['compare', '-m', 'qwen-audio', '-c', 'h100-1x8', '--solver', 'glpk'],
      ]) {
        const r = await runCliInProcess(args);
        expect(r.status, `${args[0]}: ${r.stderr}`).to.equal(2);
        expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
        expect(r.stderr).to.include('--solver glpk needs glpk.js (GPL-3.0), which is not installed');
        expect(r.stderr).not.to.match(STACK_FRAME);
      }
      // The heuristic needs no solver: it still runs.
      expect((await runCliInProcess(['plan', '-m', 'qwen-audio', '-c', 'h100-1x8', '--method', 'heuristic', '--solver', 'glpk'])).status).to.equal(0);
    });

    it('a crashing backend does not fall back to the missing one; the note is one line without a stack trace', async () => {
      const crash: SolverBackend = {
        name: 'highs' as BackendName,
        solve: (): Promise<SolveResult> => Promise.reject(new Error('RuntimeError: unreachable\n    at wasm://wasm/0001:1:2\n    at solve (highs.js:1:1)')),
      };
      const model = { sense: 'max' as const, variables: [{ name: 'x', lower: 0, upper: 1, integer: true }], objective: [{ variable: 'x', coefficient: 1 }], constraints: [] };
      const r = await solveWithFallback(model as never, { timeLimitMs: 2000 }, 'highs', { backends: { highs: crash } });
      expect(r.status).to.equal('error');
      expect(r.message).to.equal('highs failed (threw: RuntimeError: unreachable); no fallback: glpk.js is not installed');
    });
  });
});
