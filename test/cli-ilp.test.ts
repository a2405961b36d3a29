import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CLI, GUARD_SECONDS, ROOT } from './helpers/fixtures';

const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: ROOT });

describe('CLI: exact planning (`plan --method ilp`, `--dump-lp`, `compare`)', function () {
  this.timeout(0); // the ILP is bounded by --time-limit GUARD_SECONDS
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosaic-ilp-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('plan --method ilp --json: a proven-optimal plan whose recorded solver outcome matches the report, and the LP dump', () => {
    const lp = path.join(dir, 'model.lp');
    const out = path.join(dir, 'plan.json');
    const r = run('plan', '-m', 'qwen2-vl-7b', '-c', 'h100-1x8', '--method', 'ilp', '--json', '--dump-lp', lp, '-o', out, '--time-limit', String(GUARD_SECONDS));
    expect(r.status, r.stderr).to.equal(0);
    const report = JSON.parse(r.stdout);
    expect(report.ilp.provenOptimal).to.equal(true);
    expect(report.ilp.status).to.equal('optimal');
    expect(report.ilp.patterns).to.be.greaterThan(0);
    // The ILP's plan is never slower than the heuristic's, which it was seeded with.
    const heuristic = report.heuristic;
    expect(report.best.prediction.iterationMs).to.be.at.most(heuristic.iterationMs * (1 + 1e-9));
    // The best plan is the ILP's, or the heuristic's where the search did not beat it in its time.
    expect(['ilp', heuristic.provenance]).to.include(report.best.provenance);
    expect(report.plans.some((p: { provenance: string }) => p.provenance === 'ilp')).to.equal(true);
    expect(report.ilp.backend).to.equal('highs');
    const saved = JSON.parse(fs.readFileSync(out, 'utf8'));
    expect(saved.provenance).to.equal(report.best.provenance);
    const text = fs.readFileSync(lp, 'utf8');
    expect(text).to.match(/^\\ Problem: mosaic_patterns/m);
    expect(text).to.match(/^Maximize/m);
    expect(text).to.match(/^Subject To/m);
    expect(text).to.match(/^End/m);
    // One n[p] variable per pattern, as the report says.
    expect(new Set(text.match(/\bn\(p\d+\)/g)).size).to.equal(report.ilp.patterns);
  });

  it('--dump-lp without an ILP method is a usage error', () => {
    const r = run('plan', '-m', 'qwen2-vl-7b', '-c', 'h100-1x8', '--method', 'heuristic', '--dump-lp', path.join(dir, 'x.lp'));
    expect(r.status).to.equal(2);
    expect(r.stderr).to.include('--dump-lp needs --method ilp or all');
    expect(fs.existsSync(path.join(dir, 'x.lp'))).to.equal(false);
  });

  it('plan --method ilp on a model that does not fit: the binding constraint in words, exit 3', () => {
    const r = run('plan', '-m', 'llava-1.5-13b', '-c', 'h100-1x8', '--method', 'ilp', '--global-batch', '512', '--micro-batch', '64');
    expect(r.status, r.stderr).to.equal(3);
    expect(r.stderr).to.match(/module llm needs [\d.]+ GiB per GPU .*80 GiB.*micro-batch/);
    expect(r.stderr).not.to.match(/\n\s+at /);
  });

  it('compare --suite --json: every case reported, the case that does not fit says why, exit 3', () => {
    const suite = path.join(dir, 'suite.json');
    fs.writeFileSync(suite, JSON.stringify([
      { model: 'qwen2-vl-7b', cluster: 'h100-1x8' },
      { model: 'llava-1.5-13b', cluster: 'h100-1x8', globalBatch: 512, microBatch: 64 },
    ]));
    const r = run('compare', '--suite', suite, '--json', '--time-limit', String(GUARD_SECONDS));
    expect(r.status, r.stderr).to.equal(3);
    const { cases } = JSON.parse(r.stdout);
    expect(cases).to.have.length(2);
    const [ok, bad] = cases;
    expect(ok.fits).to.equal(true);
    expect(ok.ilp.provenOptimal).to.equal(true);
    // The final plan is never slower than the heuristic's (the ILP's own answer may be: its linear
    // objective leaves out interference and communication, which the simulator charges).
    expect(ok.best.iterationMs).to.be.at.most(ok.heuristic.iterationMs * (1 + 1e-9));
    expect(ok.ilp.iterationMs).to.be.at.least(ok.lowerBoundMs);
    // The heuristic's distance from optimal, bracketed: at least its gap to the final plan, at most its gap to the bound.
    expect(ok.heuristicGap.simulated).to.be.closeTo(ok.heuristic.iterationMs / ok.best.iterationMs - 1, 1e-12);
    expect(ok.heuristicGap.toBound).to.be.closeTo(ok.heuristic.iterationMs / ok.lowerBoundMs - 1, 1e-12);
    expect(ok.heuristicGap.simulated).to.be.at.least(0).and.at.most(ok.heuristicGap.toBound);
    expect(bad.fits).to.equal(false);
    expect(bad.reason).to.match(/module llm needs [\d.]+ GiB per GPU/);
    expect(r.stderr).to.include('1 of 2 case(s) do not fit');
  });

  it('compare: a bad suite names the file and the entry', () => {
    const suite = path.join(dir, 'bad-suite.json');
    fs.writeFileSync(suite, JSON.stringify([{ model: 'qwen2-vl-7b', cluster: 'h100-1x8' }, { model: 'qwen2-vl-7b', globalBatch: -1 }]));
    const r = run('compare', '--suite', suite);
    expect(r.status).to.equal(2);
    expect(r.stderr).to.include(`${suite}: /1: expected`);
  });
});
