import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseManifest } from '../src/batch/manifest';
import { ROOT, rng as seededRandom } from './helpers/fixtures';
import { FuzzHarness } from './helpers/fuzz-harness';
import type { FuzzReply } from './helpers/fuzz-worker';
import { FLAG_NUMBERS, mutateJson, oddOutputPaths, pick, type Rng } from './helpers/mutate';
import { STACK_FRAME } from './helpers/run-cli';

/**
 * Mutation fuzzer over the CLI: bundled model and cluster specs, plan files, batch manifests and flags,
 * mutated by a seeded PRNG (test/helpers/mutate.ts), each case run in process in a worker thread under a
 * budget. Every case must exit 0, 2, 3 or 4 with no stack trace and no process warning, leave no
 * temporary file, finish within its budget, and every plan it prints or writes must pass the validator.
 *
 * Normal suite: 250 cases (~25 s on 2 busy cores). Slow tier: `npm run test:fuzz` (MOSAIC_FUZZ_CASES=3000), or set
 * MOSAIC_FUZZ_CASES / MOSAIC_FUZZ_SEED / MOSAIC_FUZZ_BUDGET_MS.
 */
const CASES = Number(process.env.MOSAIC_FUZZ_CASES ?? 250);
const SEED = Number(process.env.MOSAIC_FUZZ_SEED ?? 12);
const BUDGET_MS = Number(process.env.MOSAIC_FUZZ_BUDGET_MS ?? 60_000);
const ALLOWED_EXITS = new Set([0, 2, 3, 4]);

/** Models that plan in well under a second: the fuzzer's seeds. */
const MODELS = ['qwen-audio', 'imagebind-llm', 'sd-1.5', 'llava-1.5-7b', 'builtin-mm'];
const CLUSTERS = ['h100-1x8', 'a100-1x8', 'h100-4x8'];
const readJson = (rel: string): unknown => JSON.parse(fs.readFileSync(path.join(ROOT, rel), 'utf8'));

type Case = { readonly label: string; readonly run: Parameters<FuzzHarness['run']>[0] };

describe('fuzz: mutated specs, plans, manifests and flags never crash, hang or print an invalid plan', function () {
  this.timeout(CASES * BUDGET_MS + 120_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosaic-fuzz-'));
  const scratch = path.join(dir, 'scratch');
  const harness = new FuzzHarness(BUDGET_MS);
  const basePlanFile = path.join(dir, 'base-plan.json');
  const tinyManifest = path.join(dir, 'tiny-manifest.json');
  let basePlan: unknown;

  before(async () => {
    fs.mkdirSync(scratch);
    fs.writeFileSync(path.join(scratch, 'a-file'), 'x');
    fs.writeFileSync(tinyManifest, JSON.stringify({ timeLimitSeconds: 1, cases: [{ model: 'qwen-audio', cluster: 'h100-1x8', method: 'baseline' }] }));
    const r = await harness.run({ kind: 'cli', args: ['plan', '-m', 'qwen-audio', '-c', 'h100-1x8', '--method', 'heuristic', '-o', basePlanFile], planFiles: [basePlanFile], stdoutPlan: null });
    expect(r).not.to.equal('hang');
    expect((r as FuzzReply).status, (r as FuzzReply).stderr).to.equal(0);
    basePlan = JSON.parse(fs.readFileSync(basePlanFile, 'utf8'));
  });
  after(async () => {
    await harness.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** One case from its seed: what is mutated and how the CLI is called. */
  function makeCase(i: number, rng: Rng): Case {
    const file = (ext: string) => path.join(dir, `case-${i}.${ext}`);
    const out = path.join(scratch, `out-${i}.json`);
    const kind = pick(rng, ['model', 'model', 'model', 'cluster', 'cluster', 'plan', 'plan', 'manifest', 'flags', 'flags', 'flags'] as const);
    if (kind === 'model') {
      const base = pick(rng, MODELS);
      const m = mutateJson(readJson(`datasets/models/${base}.json`), rng);
      fs.writeFileSync(file('json'), m.text);
      const json = rng() < 0.5;
      const args = ['plan', '-m', file('json'), '-c', pick(rng, CLUSTERS), '--method', pick(rng, ['heuristic', 'heuristic', 'baseline']), ...(json ? ['--json'] : ['-o', out])];
      return { label: `model ${base}: ${m.what.join('; ')}`, run: { kind: 'cli', args, planFiles: json ? [] : [out], stdoutPlan: json ? 'best' : null } };
    }
    if (kind === 'cluster') {
      const base = pick(rng, CLUSTERS);
      const m = mutateJson(readJson(`datasets/clusters/${base}.json`), rng);
      fs.writeFileSync(file('json'), m.text);
      const args = ['plan', '-m', pick(rng, MODELS.slice(0, 3)), '-c', file('json'), '--method', pick(rng, ['heuristic', 'baseline']), '--json'];
      return { label: `cluster ${base}: ${m.what.join('; ')}`, run: { kind: 'cli', args, planFiles: [], stdoutPlan: 'best' } };
    }
    if (kind === 'plan') {
      const m = mutateJson(basePlan, rng);
      fs.writeFileSync(file('json'), m.text);
      const how = pick(rng, ['show', 'show-json', 'show-svg', 'score'] as const);
      const args =
        how === 'show' ? ['show', file('json')]
        : how === 'show-json' ? ['show', file('json'), '--json']
        : how === 'show-svg' ? ['show', file('json'), '--svg', path.join(scratch, `t-${i}.svg`)]
        : ['score', file('json'), '--no-bound', '--json'];
      return { label: `plan (${how}): ${m.what.join('; ')}`, run: { kind: 'cli', args, planFiles: [], stdoutPlan: how === 'show-json' ? 'whole' : null } };
    }
    if (kind === 'manifest') {
      const base = pick(rng, ['datasets/suites/bundled.json', 'tiny']);
      const m = mutateJson(base === 'tiny' ? JSON.parse(fs.readFileSync(tinyManifest, 'utf8')) : readJson(base), rng);
      return { label: `manifest ${base}: ${m.what.join('; ')}`, run: { kind: 'manifest', text: m.text, file: path.join(dir, `manifest-${i}.json`) } };
    }
    // Flags: extreme numbers, bad methods, odd output paths, on every command that takes them.
    const odd = oddOutputPaths(scratch);
    const cmd = pick(rng, ['plan', 'plan', 'plan', 'show', 'batch', 'merge', 'profile'] as const);
    if (cmd === 'plan') {
      const args = ['plan', '-m', pick(rng, MODELS), '-c', pick(rng, CLUSTERS)];
      let method = pick(rng, ['heuristic', 'heuristic', 'baseline', 'ilp', 'bogus', '']);
      // The exact planner costs seconds: only now and then, and always with a short limit.
      if (method === 'ilp' && rng() < 0.7) method = 'heuristic';
      args.push('--method', method);
      if (method === 'ilp') args.push('--time-limit', pick(rng, ['1', '0.5', '2']));
      const flags = 1 + Math.floor(rng() * 3);
      let output: string | undefined;
      for (let f = 0; f < flags; f++) {
        const flag = pick(rng, ['--global-batch', '--micro-batch', '--time-limit', '--scale', '-o', '--dump-lp', '--json', '--solver'] as const);
        if (flag === '--json') args.push('--json');
        else if (flag === '-o') args.push('-o', (output = pick(rng, odd)));
        else if (flag === '--dump-lp') args.push('--dump-lp', pick(rng, odd));
        else if (flag === '--solver') args.push('--solver', pick(rng, ['highs', 'glpk', 'jslp', 'cplex', '']));
        else if (flag === '--time-limit' && method === 'ilp') continue;
        else args.push(flag, pick(rng, FLAG_NUMBERS));
      }
      const json = args.includes('--json');
      return { label: `flags: ${args.join(' ')}`, run: { kind: 'cli', args, planFiles: output ? [path.resolve(output)] : [], stdoutPlan: json ? 'best' : null } };
    }
    if (cmd === 'show') return { label: 'show --svg odd', run: { kind: 'cli', args: ['show', basePlanFile, '--svg', pick(rng, odd)], planFiles: [], stdoutPlan: null } };
    if (cmd === 'batch') {
      // A valid folder would run the case (a second); odd ones must be refused before anything runs.
      const o = pick(rng, odd.filter((p) => !p.endsWith('ok.json')).concat(path.join(scratch, `batch-${i}`)));
      const args = ['batch', tinyManifest, '-o', o, ...(rng() < 0.3 ? ['--workers', pick(rng, FLAG_NUMBERS)] : []), ...(rng() < 0.3 ? ['--shard', pick(rng, ['1/1', '0/1', '2/1', '1/0', 'a/b', '1/9007199254740993'])] : [])];
      return { label: `flags: ${args.join(' ')}`, run: { kind: 'cli', args, planFiles: [], stdoutPlan: null } };
    }
    if (cmd === 'merge') return { label: 'merge odd', run: { kind: 'cli', args: ['merge', scratch, '-o', pick(rng, odd)], planFiles: [], stdoutPlan: null } };
    // profile: only odd paths (a valid one would run the engine for seconds).
    return { label: 'profile -o odd', run: { kind: 'cli', args: ['profile', '--device', 'cpu', '-m', 'builtin-mm', '-o', pick(rng, odd.filter((p) => !p.endsWith('ok.json')))], planFiles: [], stdoutPlan: null } };
  }

  it(`${CASES} mutated cases (seed ${SEED}): exit 0/2/3/4, no stack trace, no warning, no hang, no invalid plan, no temporary file`, async () => {
    const counts = { cases: 0, exit: {} as Record<number, number>, exit1: 0, stack: 0, hang: 0, invalidPlan: 0, warning: 0, silentFailure: 0, tmpLeft: 0, plansChecked: 0 };
    const failures: string[] = [];
    const started = Date.now();
    for (let i = 0; i < CASES; i++) {
      const rng = seededRandom(SEED * 1_000_003 + i);
      const c = makeCase(i, rng);
      const r = await harness.run(c.run);
      counts.cases++;
      const fail = (what: string) => failures.push(`case ${i} [${what}] ${c.label}${r !== 'hang' ? `\n    exit ${r.status}: ${r.stderr.trim().split('\n').slice(0, 3).join(' | ').slice(0, 400)}` : ''}`);
      if (r === 'hang') {
        counts.hang++;
        fail(`hang > ${BUDGET_MS} ms`);
        continue;
      }
      counts.exit[r.status] = (counts.exit[r.status] ?? 0) + 1;
      counts.plansChecked += r.plansChecked;
      if (!ALLOWED_EXITS.has(r.status)) (counts.exit1++, fail(`exit ${r.status}`));
      if (STACK_FRAME.test(r.stderr) || /internal error/.test(r.stderr)) (counts.stack++, fail('stack trace'));
      if (r.planProblems.length > 0) (counts.invalidPlan++, fail(`invalid plan: ${r.planProblems.slice(0, 2).join('; ')}`));
      if (r.warnings.length > 0) (counts.warning++, fail(`warning: ${r.warnings.join('; ')}`));
      if (r.status !== 0 && r.stderr.trim() === '') (counts.silentFailure++, fail('non-zero exit without a message'));
      const tmp = [scratch, dir].flatMap((d) => fs.readdirSync(d).filter((f) => f.endsWith('.tmp') || f.startsWith('.mosaic-probe')));
      if (tmp.length > 0) {
        counts.tmpLeft++;
        fail(`left ${tmp.join(', ')}`);
        for (const f of tmp) fs.rmSync(path.join(scratch, f), { force: true });
      }
      if (c.run.kind === 'manifest') fs.rmSync(c.run.file, { force: true });
    }
    // eslint-disable-next-line no-console
    console.log(`      fuzz: ${JSON.stringify(counts)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(failures, failures.slice(0, 12).join('\n')).to.deep.equal([]);
    expect(counts.exit[0] ?? 0, 'some cases must get through to a plan').to.be.greaterThan(0);
    expect(counts.exit[2] ?? 0, 'some cases must be refused').to.be.greaterThan(0);
  });

  it('a duplicated grid entry or case does not change the cases, their ids or the manifest hash', () => {
    const base = readJson('datasets/suites/bundled.json') as { grid: Record<string, unknown[]> };
    const file = path.join(ROOT, 'datasets/suites/bundled.json');
    const ref = parseManifest(base, file);
    for (const key of ['models', 'clusters', 'batches', 'methods', 'solvers']) {
      const dup = JSON.parse(JSON.stringify(base)) as typeof base;
      dup.grid[key] = [...dup.grid[key]!, dup.grid[key]![0], ...dup.grid[key]!];
      const m = parseManifest(dup, file);
      expect(m.cases.map((c) => c.id), key).to.deep.equal(ref.cases.map((c) => c.id));
      expect(m.hash, key).to.equal(ref.hash);
    }
    const withCases = { ...base, cases: [{ model: 'qwen-audio', cluster: 'h100-1x8' }, { model: 'qwen-audio', cluster: 'h100-1x8' }] };
    const m = parseManifest(withCases, file);
    expect(m.cases.length).to.equal(ref.cases.length + 1);
    // The same bundled spec by name and by path (relative to the manifest's folder) is one case.
    const bothSpellings = JSON.parse(JSON.stringify(base)) as typeof base;
    bothSpellings.grid.models = [...bothSpellings.grid.models!, '../models/llava-1.5-7b.json', './../models/qwen-audio.json'];
    bothSpellings.grid.clusters = [...bothSpellings.grid.clusters!, '../clusters/h100-1x8.json'];
    const spelled = parseManifest(bothSpellings, file);
    expect(spelled.cases.map((c) => c.id)).to.deep.equal(ref.cases.map((c) => c.id));
    expect(spelled.hash).to.equal(ref.hash);
  });
});
