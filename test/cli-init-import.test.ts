import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { planModel } from '../src/plan/planner';
import { loadCluster, loadModel } from '../src/spec/load';
import { nearestNames, resolveModel } from '../src/spec/resolve';
import { CLI, ROOT } from './helpers/fixtures';

const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: ROOT });
const noStack = (s: string) => expect(s).not.to.match(/\n\s+at /);

describe('mosaic init and mosaic import hf', () => {
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosaic-init-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('init model writes a template that validates and plans; init cluster one that validates', async () => {
    const model = path.join(dir, 'my-model.json');
    const r = run('init', 'model', '-o', model);
    expect(r.status, r.stderr).to.equal(0);
    const spec = loadModel(model);
    expect(spec.modules.map((m) => m.name)).to.deep.equal(['vision', 'llm']);
    for (const m of spec.modules) expect(m.publishedParams?.source, m.name).to.be.a('string');
    expect(JSON.parse(fs.readFileSync(model, 'utf8')).$schema).to.equal(path.relative(dir, path.join(ROOT, 'schemas/model.schema.json')));
    const plan = await planModel(spec, loadCluster(path.join(ROOT, 'datasets/clusters/h100-1x8.json')), undefined, { method: 'heuristic' });
    expect(plan.best.prediction.iterationMs).to.be.greaterThan(0);

    const cluster = path.join(dir, 'my-cluster.json');
    expect(run('init', 'cluster', '-o', cluster).status).to.equal(0);
    expect(loadCluster(cluster).gpu.smCount).to.equal(132);
  });

  it('init refuses to overwrite without --force and rejects an unknown kind (exit 2, one line)', () => {
    const file = path.join(dir, 'exists.json');
    fs.writeFileSync(file, '{}');
    const r = run('init', 'model', '-o', file);
    expect(r.status).to.equal(2);
    expect(r.stderr).to.include(`${file}: already exists; pass --force`);
    expect(run('init', 'model', '-o', file, '--force').status).to.equal(0);
    const noFolder = run('init', 'cluster', '-o', path.join(dir, 'missing', 'x.json'));
    expect(noFolder.status).to.equal(2);
    expect(noFolder.stderr).to.include('cannot write: its folder').and.to.include('does not exist');
    const bad = run('init', 'gpu');
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.include('<kind> must be one of model, cluster');
    noStack(bad.stderr);
  });

  it('import hf writes a module; a composite becomes a model that loads; --json is data', () => {
    const out = path.join(dir, 'qwen.json');
    const r = run('import', 'hf', 'test/fixtures/hf/qwen2-0.5b.json', '--module-name', 'planner', '--tokens', '1024', '-o', out);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.include('module "planner" (llm), 494,032,768 (494.0M) parameters');
    expect(JSON.parse(fs.readFileSync(out, 'utf8'))).to.include({ name: 'planner', kind: 'llm' });

    const model = path.join(dir, 'llava.json');
    expect(run('import', 'hf', 'test/fixtures/hf/llava-1.5-7b-hf.json', '-o', model).status).to.equal(0);
    expect(loadModel(model).modules.map((m) => m.name)).to.deep.equal(['vision', 'projector', 'llm']);

    const json = run('import', 'hf', 'test/fixtures/hf/whisper-large-v2.json', '--json');
    expect(json.status, json.stderr).to.equal(0);
    const report = JSON.parse(json.stdout);
    expect(report).to.include({ modelType: 'whisper', kind: 'module' });
    expect(report.parameters[0]).to.deep.equal({ module: 'audio', count: 636_784_640 });
    expect(report.spec.kind).to.equal('audio-encoder');
  });

  it('import hf errors: one line with the file and JSON path, exit 2, no stack trace', () => {
    const bert = path.join(dir, 'bert.json');
    fs.writeFileSync(bert, JSON.stringify({ model_type: 'bert', hidden_size: 768 }));
    const r = run('import', 'hf', bert);
    expect(r.status).to.equal(2);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.include(`${bert}: /model_type: "bert" is not supported`);
    const missing = run('import', 'hf', path.join(dir, 'nope.json'));
    expect(missing.status).to.equal(2);
    expect(missing.stderr).to.include('cannot read: no such file');
    const tokens = run('import', 'hf', bert, '--tokens', '0');
    expect(tokens.status).to.equal(2);
    expect(tokens.stderr).to.include('--tokens expects a positive integer');
    const qwen = 'test/fixtures/hf/qwen2-0.5b.json';
    const intoDir = run('import', 'hf', qwen, '-o', dir);
    expect(intoDir.status).to.equal(2);
    expect(intoDir.stderr).to.include(`${dir}: cannot write: is a directory`);
    for (const x of [r, missing, tokens, intoDir]) noStack(x.stderr);
  });

  it('a Hugging Face config.json given as a model says how to convert it, in one line', () => {
    const file = path.join(ROOT, 'test/fixtures/hf/gemma-2b.json');
    expect(() => loadModel(file)).to.throw(`${file}: a Hugging Face config.json (model_type "gemma"), not a Mosaic model; convert it with: mosaic import hf ${file}`);
  });

  it('--help teaches with an example', () => {
    expect(run('init', '--help').stdout).to.include('$ mosaic init model -o my-model.json');
    expect(run('import', 'hf', '--help').stdout).to.include('$ mosaic import hf');
  });

  it('an unknown model or cluster name lists the bundled ones with a "did you mean"', () => {
    const r = run('plan', '-m', 'llava-7b', '-c', 'h100-1x8');
    expect(r.status).to.equal(2);
    expect(r.stderr).to.include('llava-7b: cannot read: no such file, nor a bundled model of that name; did you mean "llava-1.5-7b"?');
    expect(r.stderr).to.include('bundled models: builtin-mm,');
    noStack(r.stderr);
    const c = run('plan', '-m', 'llava-1.5-7b', '-c', 'h100');
    expect(c.status).to.equal(2);
    expect(c.stderr).to.include('did you mean "h100-1x8"');
    // A path that does not exist gets the same list (in-process: the message is the resolver's).
    expect(() => resolveModel(path.join(dir, 'paligemma.json'))).to.throw(/cannot read: no such file.*did you mean "paligemma-3b"/);
  });

  it('nearestNames: pieces, substrings, then edit distance', () => {
    const names = ['llava-1.5-13b', 'llava-1.5-7b', 'qwen2-vl-2b', 'qwen2-vl-7b', 'sd-1.5'];
    expect(nearestNames('llava-7b', names)).to.deep.equal(['llava-1.5-7b']);
    expect(nearestNames('qwen2vl-7b', names)[0]).to.equal('qwen2-vl-7b');
    expect(nearestNames('sd', names)).to.deep.equal(['sd-1.5']);
    expect(nearestNames('zzz', names)).to.deep.equal([]);
  });
});
