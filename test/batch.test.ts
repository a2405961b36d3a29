import { expect } from 'chai';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { caseId, manifestHash, parseManifest, parseShard, shardOf } from '../src/batch/manifest';
import { parseResults } from '../src/batch/store';
import { CLI, explicitModule, GUARD_SECONDS, ROOT, rng, tinyCluster, tinyModel } from './helpers/fixtures';

type Run = { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };
const cli = (...args: string[]): Run => {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: ROOT });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
};

/**
 * Runs the CLI and sends `signal` as soon as `results.jsonl` holds `afterLines` complete lines: driven
 * by the batch's own progress, not by a clock, so the kill lands mid-batch however loaded the machine
 * is (with two workers, the other one is usually mid-case).
 */
function cliKilledAfter(args: string[], resultsFile: string, afterLines: number, signal: NodeJS.Signals): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    let sent = false;
    const poll = setInterval(() => {
      let lines = 0;
      try {
        lines = (fs.readFileSync(resultsFile, 'utf8').match(/\n/g) ?? []).length;
      } catch {
        return; // not created yet
      }
      if (lines >= afterLines && !sent) {
        sent = true;
        clearInterval(poll);
        child.kill(signal);
      }
    }, 5);
    child.on('close', (status, sig) => {
      clearInterval(poll);
      resolve({ status, signal: sig, stdout, stderr });
    });
  });
}

/** The fields of a result that do not depend on timing: everything but planning/solve times and dates. */
function deterministic(line: any): unknown {
  const strip = (o: any): any => {
    if (Array.isArray(o)) return o.map(strip);
    if (o && typeof o === 'object') {
      return Object.fromEntries(Object.entries(o).filter(([k]) => !['planningMs', 'solveMs', 'totalSolveMs', 'finishedAt'].includes(k)).map(([k, v]) => [k, strip(v)]));
    }
    return o;
  };
  return strip(line);
}

function resultsOf(dir: string): Map<string, unknown> {
  const file = path.join(dir, 'results.jsonl');
  const parsed = parseResults(file, fs.readFileSync(file, 'utf8'));
  expect(parsed.partialBytes, 'no partial line is left after a finished run').to.equal(0);
  expect(parsed.duplicates, 'no case is recorded twice').to.equal(0);
  return new Map(parsed.results.map((r) => [r.id, deterministic(r)]));
}

/** Case for case, so that a failure names the case and shows the differing fields. */
function expectSameResults(actual: Map<string, unknown>, expected: Map<string, unknown>): void {
  expect([...actual.keys()].sort()).to.deep.equal([...expected.keys()].sort());
  for (const [id, v] of expected) expect(actual.get(id), `case ${id}`).to.deep.equal(v);
}

/** Every complete line parses and no case is recorded twice (a partial last line is allowed mid-kill). */
function expectWholeLines(dir: string): void {
  const file = path.join(dir, 'results.jsonl');
  if (!fs.existsSync(file)) return;
  const text = fs.readFileSync(file, 'utf8');
  const parsed = parseResults(file, text); // throws on a corrupt complete line
  expect(parsed.duplicates).to.equal(0);
}

describe('mosaic batch: manifests, worker pool, resume after kills, shards and merge, report', function () {
  this.timeout(600000); // a hang guard only: nothing here races a clock
  let dir: string;
  let manifest: string;
  let reference: Map<string, unknown>;
  let refDir: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosaic-batch-'));
    const specs = path.join(dir, 'specs');
    fs.mkdirSync(specs);
    const a = tinyModel([explicitModule('enc', 2e8, 4e11), explicitModule('proj', 1e7, 1e10, ['enc']), explicitModule('llm', 1e9, 3e12, ['proj'])], { name: 'tiny-a' });
    const b = tinyModel([explicitModule('img', 3e8, 6e11), explicitModule('aud', 1e8, 2e11), explicitModule('llm', 7e8, 2e12, ['img', 'aud'])], { name: 'tiny-b' });
    fs.writeFileSync(path.join(specs, 'tiny-a.json'), JSON.stringify(a));
    fs.writeFileSync(path.join(specs, 'tiny-b.json'), JSON.stringify(b));
    // 100 GB of parameters cannot fit on 80 GiB GPUs: infeasible.
    fs.writeFileSync(path.join(specs, 'huge.json'), JSON.stringify(tinyModel([explicitModule('giant', 1e11, 1e12)], { name: 'huge' })));
    fs.writeFileSync(path.join(specs, 'invalid.json'), JSON.stringify({ ...a, batch: { global: 16, micro: 0 } }));
    fs.writeFileSync(path.join(specs, 'tiny-4.json'), JSON.stringify(tinyCluster({ gpusPerNode: 4 })));
    fs.writeFileSync(path.join(specs, 'tiny-2.json'), JSON.stringify(tinyCluster({ name: 'tiny2' })));
    manifest = path.join(dir, 'manifest.json');
    fs.writeFileSync(
      manifest,
      JSON.stringify({
        name: 'test',
        // Time limits that never strike (GUARD_SECONDS): every case's result is the same on any machine,
        // so a killed-and-resumed batch can be compared with the reference case for case.
        timeLimitSeconds: GUARD_SECONDS,
        cases: [
          { model: 'specs/tiny-a.json', cluster: 'specs/tiny-4.json', method: 'compare' },
          { model: 'specs/tiny-b.json', cluster: 'specs/tiny-2.json', method: 'all', solver: 'glpk', timeLimitSeconds: GUARD_SECONDS },
          { model: 'specs/huge.json', cluster: 'specs/tiny-2.json', method: 'heuristic' },
          { model: 'specs/invalid.json', cluster: 'specs/tiny-2.json', method: 'baseline' },
          { model: 'specs/missing.json', cluster: 'specs/tiny-2.json', method: 'heuristic' },
        ],
        grid: {
          models: ['specs/tiny-a.json', 'specs/tiny-b.json'],
          clusters: ['specs/tiny-4.json', 'specs/tiny-2.json'],
          batches: [{ global: 16, micro: 4 }, { global: 32, micro: 8 }],
          methods: ['heuristic', 'baseline'],
          solvers: ['glpk', 'jslp'],
        },
      }),
    );
    refDir = path.join(dir, 'reference');
    const r = cli('batch', manifest, '-o', refDir, '--workers', '2');
    expect(r.status, r.stderr).to.equal(0);
    reference = resultsOf(refDir);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('runs every case once, records failures with their code and goes on, and writes the report', () => {
    // 5 explicit + 2 models × 2 clusters × 2 batches × 2 methods (heuristic/baseline ignore the solver: no duplicates).
    expect(reference.size).to.equal(21);
    const rows = [...reference.values()] as any[];
    const failed = rows.filter((r) => r.status === 'failed');
    const codes = failed.map((r) => `${r.case.model}:${r.error.code}`).sort();
    expect(codes).to.deep.equal(['specs/huge.json:E_INFEASIBLE', 'specs/invalid.json:E_INPUT', 'specs/missing.json:E_INPUT']);
    expect(failed.find((r) => r.case.model === 'specs/invalid.json').error.message).to.include('/batch/micro');
    const compare = rows.find((r) => r.case.method === 'compare');
    expect(compare.status).to.equal('ok');
    expect(compare.summary.ilp.status).to.be.a('string');
    expect(compare.summary.heuristicGap).to.be.a('number');
    expect(compare.summary.best.lowerBoundRatio).to.be.at.least(1 - 1e-9);
    const heuristic = rows.find((r) => r.case.method === 'heuristic' && r.status === 'ok');
    expect(heuristic.summary.speedupOverBestBaseline).to.be.at.least(1 - 1e-9);
    const csv = fs.readFileSync(path.join(refDir, 'summary.csv'), 'utf8').trim().split('\n');
    expect(csv).to.have.length(22);
    expect(csv[0]).to.match(/^id,model,cluster,gpus/);
    const html = fs.readFileSync(path.join(refDir, 'report.html'), 'utf8');
    for (const s of ['Speedup over the best baseline', 'Heuristic gap to the final plan', 'ILP solve time vs GPU count', 'Failures (3)', '<svg']) expect(html).to.include(s);
    expect(html).not.to.match(/<script|https?:\/\/(?!www\.w3\.org)/); // self-contained
    // Ids are the hash of the normalized case.
    const state = JSON.parse(fs.readFileSync(path.join(refDir, 'batch.json'), 'utf8'));
    for (const c of state.cases) expect(caseId(c.case)).to.equal(c.id);
  });

  it('rerunning a finished batch runs nothing and changes no result', () => {
    const before = fs.readFileSync(path.join(refDir, 'results.jsonl'), 'utf8');
    const r = cli('batch', manifest, '-o', refDir, '--json');
    expect(r.status, r.stderr).to.equal(0);
    const s = JSON.parse(r.stdout);
    expect(s.ran).to.equal(0);
    expect(s.skipped).to.equal(21);
    expect(fs.readFileSync(path.join(refDir, 'results.jsonl'), 'utf8')).to.equal(before);
  });

  for (const [signal, seeds] of [['SIGKILL', [1, 2, 3]], ['SIGINT', [4, 5]]] as const) {
    for (const seed of seeds) {
      it(`killed with ${signal} at random moments (seed ${seed}) and resumed: the same results, case for case`, async () => {
        const random = rng(seed);
        const out = path.join(dir, `kill-${signal}-${seed}`);
        let interrupted = 0;
        for (let kill = 0; kill < 3; kill++) {
          // Kill after a random number of further results (the first kill within the first half of the cases).
          const done = fs.existsSync(path.join(out, 'results.jsonl')) ? (fs.readFileSync(path.join(out, 'results.jsonl'), 'utf8').match(/\n/g) ?? []).length : 0;
          const r = await cliKilledAfter(['batch', manifest, '-o', out, '--workers', '2'], path.join(out, 'results.jsonl'), done + Math.floor(random() * 8), signal);
          expectWholeLines(out);
          if (r.status === 0) break;
          interrupted++;
          if (signal === 'SIGKILL') expect(r.signal).to.equal('SIGKILL');
          else if (r.signal === null) {
            // The handler ran: no new cases, summary written, exit 130.
            expect(r.status, r.stderr).to.equal(130);
            expect(fs.existsSync(path.join(out, 'report.html'))).to.equal(true);
          }
        }
        expect(interrupted, 'at least one kill landed before the batch finished').to.be.greaterThan(0);
        const r = cli('batch', manifest, '-o', out, '--workers', '2');
        expect(r.status, r.stderr).to.equal(0);
        expectSameResults(resultsOf(out), reference);
      });
    }
  }

  it('a partial last line left by a kill is cut off and its case rerun', () => {
    const out = path.join(dir, 'partial');
    fs.cpSync(refDir, out, { recursive: true });
    const file = path.join(out, 'results.jsonl');
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
    fs.writeFileSync(file, lines.slice(0, -2).join('\n') + '\n' + lines[lines.length - 2]!.slice(0, 40));
    const r = cli('batch', manifest, '-o', out, '--json');
    expect(r.status, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout).ran).to.equal(2);
    expect(r.stderr).to.include('partial last line');
    expectSameResults(resultsOf(out), reference);
  });

  it('two shards merged equal the unsharded run; merge refuses missing, doubled and foreign results', () => {
    const s1 = path.join(dir, 'shard1');
    const s2 = path.join(dir, 'shard2');
    for (const [i, d] of [[1, s1], [2, s2]] as const) {
      const r = cli('batch', manifest, '-o', d, '--shard', `${i}/2`, '--workers', '1');
      expect(r.status, r.stderr).to.equal(0);
    }
    const n1 = resultsOf(s1).size;
    const n2 = resultsOf(s2).size;
    expect(n1 + n2).to.equal(21);
    expect(n1).to.be.greaterThan(0);
    expect(n2).to.be.greaterThan(0);
    for (const id of resultsOf(s1).keys()) expect(shardOf(id, 2)).to.equal(1);
    const merged = path.join(dir, 'merged');
    const m = cli('merge', s1, s2, '-o', merged);
    expect(m.status, m.stderr).to.equal(0);
    expectSameResults(resultsOf(merged), reference);
    expect(fs.existsSync(path.join(merged, 'report.html'))).to.equal(true);
    const ids = (d: string) => fs.readFileSync(path.join(d, 'summary.csv'), 'utf8').trim().split('\n').map((l) => l.split(',')[0]);
    expect(ids(merged), 'summary.csv in manifest order').to.deep.equal(ids(refDir));

    const missing = cli('merge', s1, '-o', path.join(dir, 'm2'));
    expect(missing.status).to.equal(2);
    expect(missing.stderr).to.include(`${n2} of the manifest's 21 cases have no result`);
    expect(missing.stderr).to.include('shard 2/2');
    const doubled = cli('merge', s1, s2, refDir, '-o', path.join(dir, 'm3'));
    expect(doubled.status).to.equal(2);
    expect(doubled.stderr).to.match(/has results in both .*shard1 and .*reference/);
    expect(doubled.stderr).not.to.match(/\n\s+at /);

    // A shard directory reused for another shard is refused.
    const wrong = cli('batch', manifest, '-o', s1, '--shard', '2/2');
    expect(wrong.status).to.equal(2);
    expect(wrong.stderr).to.include('holds shard 1/2');
  });

  it('a bad manifest gets one clear line per problem with file and JSON pointer, exit 2', () => {
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ timeLimitSeconds: -1, grid: { models: ['llava-1.5-7b'], clusters: ['h100-1x8'], methods: ['magic'], batches: [{ global: 10 }] }, extra: 1 }));
    const r = cli('batch', bad, '-o', path.join(dir, 'bad-out'));
    expect(r.status).to.equal(2);
    expect(r.stderr).to.include(`${bad}: /timeLimitSeconds: must be greater than 0`);
    expect(r.stderr).to.include(`${bad}: /grid/methods/0: must be one of`);
    expect(r.stderr).to.include(`${bad}: /grid/batches/0: missing required property "micro"`);
    expect(r.stderr).to.include(`${bad}: /: unknown property "extra"`);
    expect(r.stderr).not.to.match(/\n\s+at /);

    fs.writeFileSync(bad, JSON.stringify({ cases: [{ model: 'llava-7b', cluster: 'h100-1x8', batch: { global: 10, micro: 4 } }] }));
    const r2 = cli('batch', bad, '-o', path.join(dir, 'bad-out'));
    expect(r2.status).to.equal(2);
    expect(r2.stderr).to.include(`${bad}: /cases/0/batch: global batch 10 is not a multiple of the micro-batch 4`);
    fs.writeFileSync(bad, JSON.stringify({ cases: [{ model: 'llava-7b', cluster: 'h100-1x8' }] }));
    const r3 = cli('batch', bad, '-o', path.join(dir, 'bad-out'));
    expect(r3.status).to.equal(2);
    expect(r3.stderr).to.include(`${bad}: /cases/0/model: no bundled model "llava-7b"`);
    fs.writeFileSync(bad, '{"cases": [');
    const r4 = cli('batch', bad, '-o', path.join(dir, 'bad-out'));
    expect(r4.status).to.equal(2);
    expect(r4.stderr).to.include('malformed JSON');
    const r5 = cli('batch', manifest, '-o', path.join(dir, 'bad-out'), '--shard', '0/2');
    expect(r5.status).to.equal(2);
    expect(r5.stderr).to.include('numbered 1 to n');
  });

  it('a changed manifest is refused without --force; with --force the unchanged cases are kept', () => {
    const out = path.join(dir, 'changed');
    fs.cpSync(refDir, out, { recursive: true });
    const data = JSON.parse(fs.readFileSync(manifest, 'utf8'));
    data.cases = data.cases.slice(0, 2); // drop three explicit cases
    const changed = path.join(dir, 'manifest-changed.json');
    fs.writeFileSync(changed, JSON.stringify(data));
    const r = cli('batch', changed, '-o', out);
    expect(r.status).to.equal(2);
    expect(r.stderr).to.include('holds results of a different manifest');
    expect(r.stderr).to.include('--force');
    const f = cli('batch', changed, '-o', out, '--force', '--json');
    expect(f.status, f.stderr).to.equal(0);
    const s = JSON.parse(f.stdout);
    expect(s).to.include({ total: 18, ran: 0, skipped: 18 });
    const kept = resultsOf(out);
    expect(kept.size).to.equal(18);
    for (const [id, v] of kept) expect(v).to.deep.equal(reference.get(id));
    // Outputs of different manifests do not merge.
    const m = cli('merge', refDir, out, '-o', path.join(dir, 'm4'));
    expect(m.status).to.equal(2);
    expect(m.stderr).to.include(`${out}: ran a different manifest`);
  });

  it('a case past its hard time limit is abandoned, recorded as E_TIME_LIMIT, and the batch goes on', () => {
    // The slow case is injected (MOSAIC_BATCH_TEST_HANG: its worker never answers), so it reaches its
    // 150 ms hard limit on any machine; a fast machine cannot finish it in time and flip the test.
    const m = path.join(dir, 'slow.json');
    fs.writeFileSync(m, JSON.stringify({
      graceSeconds: 0,
      cases: [
        { model: 'specs/tiny-a.json', cluster: 'specs/tiny-4.json', method: 'compare', timeLimitSeconds: 0.05 },
        { model: 'specs/tiny-b.json', cluster: 'specs/tiny-4.json', method: 'heuristic', timeLimitSeconds: GUARD_SECONDS },
      ],
    }));
    const out = path.join(dir, 'slow');
    const hung = spawnSync(process.execPath, [CLI, 'batch', m, '-o', out, '--workers', '1'], { encoding: 'utf8', cwd: ROOT, env: { ...process.env, MOSAIC_BATCH_TEST_HANG: 'tiny-a.json' } });
    const r = { status: hung.status, stderr: hung.stderr };
    expect(r.status, r.stderr).to.equal(0);
    const rows = [...resultsOf(out).values()] as any[];
    expect(rows.map((x) => x.status)).to.have.members(['failed', 'ok']);
    const failed = rows.find((x) => x.status === 'failed');
    expect(failed.error.code).to.equal('E_TIME_LIMIT');
    expect(failed.error.message).to.include('abandoned');
  });

  it('the bundled suite covers every bundled model (but the CPU toy) on every bundled cluster, with heuristic and ILP', () => {
    const file = path.join(ROOT, 'datasets/suites/bundled.json');
    const suite = parseManifest(JSON.parse(fs.readFileSync(file, 'utf8')), file);
    const names = (kind: string) => fs.readdirSync(path.join(ROOT, 'datasets', kind)).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
    const models = names('models').filter((m) => m !== 'builtin-mm');
    const clusters = names('clusters');
    expect([...new Set(suite.cases.map((c) => c.case.model))].sort()).to.deep.equal(models);
    expect([...new Set(suite.cases.map((c) => c.case.cluster))].sort()).to.deep.equal(clusters);
    expect(new Set(suite.cases.map((c) => JSON.stringify(c.case.batch))).size).to.equal(2);
    expect(suite.cases).to.have.length(models.length * clusters.length * 2);
    for (const c of suite.cases) expect(['compare', 'all']).to.include(c.case.method);
  });

  it('manifest library: deterministic ids, order-free hash, shards by id hash', () => {
    const where = path.join(dir, 'x.json');
    const m1 = parseManifest({ grid: { models: ['llava-1.5-7b', 'sd-1.5'], clusters: ['h100-1x8'], methods: ['heuristic', 'compare'], solvers: ['glpk', 'jslp'] } }, where);
    const m2 = parseManifest({ grid: { models: ['sd-1.5', 'llava-1.5-7b'], clusters: ['h100-1x8'], methods: ['compare', 'heuristic'], solvers: ['jslp', 'glpk'] } }, where);
    expect(m1.cases).to.have.length(6); // heuristic ignores the solver
    expect(m1.hash).to.equal(m2.hash);
    expect(m1.hash).to.equal(manifestHash(m1.cases.map((c) => c.id), 60));
    expect(new Set(m1.cases.map((c) => c.id))).to.deep.equal(new Set(m2.cases.map((c) => c.id)));
    const withOverride = parseManifest({ timeLimitSeconds: 7, grid: { models: ['sd-1.5'], clusters: ['h100-1x8', 'a100-1x8'], methods: ['compare'] }, overrides: [{ cluster: 'a100-1x8', timeLimitSeconds: 20 }] }, where);
    expect(withOverride.cases.map((c) => c.case.timeLimitSeconds)).to.deep.equal([7, 20]);
    expect(parseShard('3/8')).to.deep.equal({ index: 3, count: 8 });
    const ids = Array.from({ length: 400 }, (_, i) => caseId({ model: `m${i}`, cluster: 'c', batch: null, method: 'heuristic', solver: null, timeLimitSeconds: 1 }));
    const counts = [1, 2, 3, 4].map((s) => ids.filter((id) => shardOf(id, 4) === s).length);
    for (const c of counts) expect(c).to.be.within(60, 140);
    // A complete line that does not parse is corruption, named by line; a partial last line is not.
    const ok = JSON.stringify({ id: 'a', status: 'ok' });
    expect(parseResults('r.jsonl', `${ok}\n{"id": "b", "sta`)).to.include({ partialBytes: 16, completeBytes: ok.length + 1 });
    expect(() => parseResults('r.jsonl', `${ok}\n{oops\n${ok}\n`)).to.throw('r.jsonl:2: corrupt result line');
  });
});
