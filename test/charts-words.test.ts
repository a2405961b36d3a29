import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { SolveStatus } from '../solver/backends/types';
import { reportHtml } from '../src/batch/report';
import type { BatchState, CaseResult } from '../src/batch/store';
import { buildPerfModel } from '../src/perf/perf-model';
import { simulateIteration } from '../src/perf/simulate';
import { boundMethod, planModel } from '../src/plan/planner';
import { timelineSvg } from '../src/report/timeline-svg';
import type { Plan } from '../src/spec/plan';
import { resolveCluster, resolveModel } from '../src/spec/resolve';
import { meaningOf, STATUS_WORDS } from '../src/spec/words';
import { fitLabel, niceTicks, textWidth } from '../src/util/chart';
import { CLI, ROOT } from './helpers/fixtures';

const isRoundStep = (step: number) => {
  const mantissa = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
  return [1, 2, 5].some((m) => Math.abs(mantissa - m) < 1e-9);
};

describe('charts: round ticks, labels that fit, the speedup chart centred on 1', () => {
  it('ticks fall on 1–2–5 × 10^k steps covering the range', () => {
    for (const [lo, hi] of [[0, 1742], [0, 683.4], [0, 2.37], [0.93, 1.21], [0, 7.71], [0, 125_000]] as const) {
      const { step, ticks } = niceTicks(lo, hi, 10);
      expect(isRoundStep(step), `${lo}..${hi}: step ${step}`).to.equal(true);
      expect(ticks.length).to.be.within(3, 11);
      for (const t of ticks) expect(Math.abs(t / step - Math.round(t / step))).to.be.below(1e-6);
      expect(ticks[0]).to.be.at.least(lo - 1e-9);
      expect(ticks[ticks.length - 1]! + step).to.be.above(hi);
    }
    expect(niceTicks(0, 1742, 10).ticks).to.deep.equal([0, 200, 400, 600, 800, 1000, 1200, 1400, 1600]);
  });

  it('a label is kept, cut with an ellipsis, or hidden, to fit its width', () => {
    expect(fitLabel('llm B3', 100, 9)).to.equal('llm B3');
    const cut = fitLabel('GPU 16 · 132 SM · vision+audio+depth+thermal+projector', 120, 11);
    expect(cut.endsWith('…')).to.equal(true);
    expect(textWidth(cut, 11)).to.be.at.most(120);
    expect(fitLabel('llm F10', 8, 9)).to.equal('');
  });

  describe('timeline SVG of imagebind-llm on h100-4x8 (baseline plan)', () => {
    let plan: Plan;
    let svg: string;
    before(async () => {
      plan = (await planModel(resolveModel('imagebind-llm'), resolveCluster('h100-4x8'), undefined, { method: 'baseline' })).best;
      svg = timelineSvg(plan, simulateIteration(buildPerfModel(plan.model, plan.cluster), plan.gpus, plan.replicas));
    });

    it('axis ticks at round milliseconds; the all-reduce named in the header and drawn as communication strips', () => {
      const axis = [...svg.matchAll(/<text x="[\d.]+" y="[\d.]+" text-anchor="middle">([\d.]+)<\/text>/g)].map((m) => Number(m[1]));
      expect(axis).to.deep.equal([0, 200, 400, 600, 800, 1000, 1200, 1400, 1600, 1800]);
      // 994 buckets of 25 MiB over 16 replicas on two nodes (ZeRO-3: ×1.5): the links' time of all of
      // them, each bucket NCCL's tree (2 × (7 + 1) latencies, twice the bucket over the links between
      // nodes: 1.129 ms at 50 GB/s), a little faster than the ring (30 latencies, 30/16 of it: 1.133 ms).
      expect(svg).to.match(/communication: llm all-reduce 1681 ms \(39\.0 GB, inter-node\)/);
      const strips = svg.match(/<title>llm all-reduce: 39\.0 GB over inter-node/g) ?? [];
      expect(strips).to.have.length(plan.replicas.filter((r) => r.module === 'llm').length);
    });

    it('no label inside a bar is wider than its bar; lane labels stay in the left margin', () => {
      const lines = svg.split('\n');
      let lastRect: { x: number; w: number } | undefined;
      let checked = 0;
      for (const line of lines) {
        const rect = /^<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)" height="14"/.exec(line);
        if (rect) lastRect = { x: Number(rect[1]), w: Number(rect[2]) };
        const label = /^<text x="([\d.]+)" y="[\d.]+" font-size="9"[^>]*>([^<]*)<\/text>/.exec(line);
        if (label) {
          expect(lastRect).to.exist;
          expect(Number(label[1])).to.be.at.least(lastRect!.x);
          expect(Number(label[1]) + textWidth(label[2]!, 9)).to.be.at.most(lastRect!.x + lastRect!.w + 1e-6);
          checked++;
        }
        const lane = /^<text x="10" y="[\d.]+">([^<]*)<title>/.exec(line);
        if (lane) expect(10 + textWidth(lane[1]!.replace(/&amp;/g, '&'), 11)).to.be.at.most(250);
      }
      expect(checked).to.be.greaterThan(0);
    });
  });

  it("the batch report's speedup bars grow up and down from 1, on an axis spanning the data, with the two gaps explained", () => {
    const at = '2026-01-01T00:00:00.000Z';
    const mk = (id: string, model: string, speedup: number): CaseResult => ({
      id,
      case: { model, cluster: 'h100-1x8', batch: null, method: 'compare', solver: 'highs', timeLimitSeconds: 1 },
      status: 'ok',
      planningMs: 1,
      finishedAt: at,
      summary: {
        model, cluster: 'h100-1x8', gpus: 8, globalBatch: 128, microBatch: 2, lowerBoundMs: 90,
        best: { provenance: 'ilp', iterationMs: 100, samplesPerSecond: 1280, lowerBoundRatio: 1.1 },
        baselines: { sequential: 100 * speedup }, bestBaseline: { name: 'sequential', iterationMs: 100 * speedup },
        speedupOverBaselines: { sequential: speedup }, speedupOverBestBaseline: speedup,
        heuristic: { iterationMs: 100, provenance: 'baseline:sequential' },
        ilp: { iterationMs: 100, provenance: 'ilp', status: 'optimal', provenOptimal: true, gap: 0 },
        heuristicGap: 0, heuristicGapLinear: 0.11,
      },
    });
    const results = [mk('a', 'm1', 1), mk('b', 'm2', 1.0004), mk('c', 'm3', 1.25), mk('d', 'm4', 0.97)];
    const state: BatchState = { version: 1, manifest: 'x.json', manifestHash: 'h', graceSeconds: 1, shard: null, cases: results.map((r) => ({ id: r.id, case: r.case })) };
    const html = reportHtml(state, results);
    const chart = html.slice(html.indexOf('<h2>Speedup'), html.indexOf('<h2>Heuristic gap'));
    const base = /<line x1="70" x2="[\d.]+" y1="([\d.]+)" y2="[\d.]+" stroke="#000" stroke-dasharray="4 3"\/>/.exec(chart)!;
    expect(base).to.exist;
    const y1 = Number(base[1]);
    const bars = [...chart.matchAll(/<rect x="[\d.]+" y="([\d.]+)" width="12" height="([\d.]+)"/g)].map((m) => ({ top: Number(m[1]), bottom: Number(m[1]) + Number(m[2]) }));
    expect(bars).to.have.length(4);
    expect(bars[2]!.bottom).to.be.closeTo(y1, 0.11); // 1.25×: up from 1
    expect(bars[3]!.top).to.be.closeTo(y1, 0.11); // 0.97×: down from 1
    expect(bars[2]!.bottom - bars[2]!.top).to.be.greaterThan(100); // the axis spans the data, not 0..1.25
    const ticks = [...chart.matchAll(/text-anchor="end">([\d.]+)<\/text>/g)].map((m) => Number(m[1]));
    expect(Math.min(...ticks)).to.be.at.least(0.9);
    expect(html).to.include('Simulated gap').and.include('Linear gap');
    // All at 1×: the axis still spans a readable range around 1, not 1.0000–1.0008.
    const flat = reportHtml(state, results.map((r) => mk(r.id, r.summary!.model, 1)));
    const flatTicks = [...flat.slice(flat.indexOf('<h2>Speedup'), flat.indexOf('<h2>Heuristic gap')).matchAll(/text-anchor="end">([\d.]+)<\/text>/g)].map((m) => Number(m[1]));
    expect(Math.max(...flatTicks) - Math.min(...flatTicks)).to.be.at.least(0.1);
  });
});

describe('one status vocabulary', () => {
  it('every solver status, bound method and provenance the planner produces has its meaning in the table', async () => {
    const statuses: Record<SolveStatus, true> = { optimal: true, feasible: true, infeasible: true, timeLimit: true, error: true };
    for (const s of Object.keys(statuses)) expect(meaningOf(s), s).to.be.a('string');
    for (const s of ['gap', 'trials', 'timeLimit', 'patterns', 'bracketed', undefined] as const) expect(meaningOf(boundMethod(s)), String(s)).to.be.a('string');
    for (const p of ['ilp', 'hand', 'heuristic:waterfill', 'baseline:sequential']) expect(meaningOf(p), p).to.be.a('string');
    const result = await planModel(resolveModel('llava-1.5-7b'), resolveCluster('h100-1x8'), undefined, { method: 'heuristic' });
    for (const p of result.plans) {
      expect(meaningOf(p.provenance), p.provenance).to.be.a('string');
      expect(p.provenance).not.to.include('kept');
    }
    expect(new Set(STATUS_WORDS.map((w) => w.word)).size).to.equal(STATUS_WORDS.length);
  });

  it('train prints about 20 iteration lines whatever --iterations is, every one with --log-every 1', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosaic-log-'));
    try {
      const planFile = path.join(dir, 'p.json');
      const made = spawnSync(process.execPath, [CLI, 'plan', '-m', 'builtin-mm', '-c', 'local-cpu', '--method', 'baseline', '-o', planFile], { encoding: 'utf8', cwd: ROOT });
      expect(made.status, made.stderr).to.equal(0);
      const lines = (r: ReturnType<typeof spawnSync>) => (String(r.stdout).match(/^iter +\d+ /gm) ?? []).map((l) => Number(l.split(/ +/)[1]));
      const many = spawnSync(process.execPath, [CLI, 'train', '--plan', planFile, '--iterations', '60'], { encoding: 'utf8', cwd: ROOT });
      expect(many.status, many.stderr).to.equal(0);
      expect(lines(many)).to.deep.equal([1, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36, 39, 42, 45, 48, 51, 54, 57, 60]);
      expect(many.stdout).to.match(/mean of 60/);
      const all = spawnSync(process.execPath, [CLI, 'train', '--plan', planFile, '--iterations', '4', '--log-every', '1'], { encoding: 'utf8', cwd: ROOT });
      expect(lines(all)).to.deep.equal([1, 2, 3, 4]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('plan --help lists the words; a plan made at --scale records it', () => {
    const help = spawnSync(process.execPath, [CLI, 'plan', '--help'], { encoding: 'utf8', cwd: ROOT });
    for (const w of STATUS_WORDS) expect(help.stdout).to.include(w.word);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosaic-words-'));
    try {
      const out = path.join(dir, 'p.json');
      const r = spawnSync(process.execPath, [CLI, 'plan', '-m', 'llava-1.5-7b', '-c', 'local-cpu', '--scale', '0.015625', '--method', 'baseline', '-o', out], { encoding: 'utf8', cwd: ROOT });
      expect(r.status, r.stderr).to.equal(0);
      expect(JSON.parse(fs.readFileSync(out, 'utf8')).scale).to.equal(0.015625);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
