import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CLI, ROOT } from './helpers/fixtures';

const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: ROOT });
const llava = JSON.parse(fs.readFileSync(path.join(ROOT, 'datasets/models/llava-1.5-7b.json'), 'utf8'));

describe('CLI errors: one clear line naming the file, distinct exit codes, no stack trace', () => {
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosaic-cli-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, content: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, content);
    return file;
  };
  const mutated = (name: string, mutate: (m: any) => void) => {
    const copy = JSON.parse(JSON.stringify(llava));
    mutate(copy);
    return write(name, JSON.stringify(copy, null, 2));
  };
  const expectInputError = (r: ReturnType<typeof run>, ...fragments: string[]) => {
    expect(r.status, r.stderr).to.equal(2);
    for (const f of fragments) expect(r.stderr).to.include(f);
    expect(r.stderr).not.to.match(/\n\s+at /); // no stack trace
  };

  it('a missing file', () => {
    const file = path.join(dir, 'nope.json');
    expectInputError(run('plan', '-m', file, '-c', 'h100-1x8'), `${file}: cannot read: no such file`);
  });

  it('malformed JSON, with line and column', () => {
    const file = write('bad.json', '{\n  "name": "x",\n  oops\n}');
    expectInputError(run('plan', '-m', file, '-c', 'h100-1x8'), `${file}:3:`, 'malformed JSON');
  });

  it('malformed JSON that stops early, or an empty file, gets the line and column of its end', () => {
    const file = write('cut.json', '{\n  "name": "x",\n  "batch": ');
    expectInputError(run('plan', '-m', file, '-c', 'h100-1x8'), `${file}:3:12: malformed JSON: Unexpected end of JSON input`);
    const empty = write('empty.json', '');
    expectInputError(run('plan', '-m', empty, '-c', 'h100-1x8'), `${empty}:1:1: malformed JSON`);
  });

  it('NaN and Infinity are named as such', () => {
    const file = write('nan.json', JSON.stringify(llava, null, 2).replace('"global": 128', '"global": NaN'));
    expectInputError(run('plan', '-m', file, '-c', 'h100-1x8'), 'NaN is not a JSON number');
    const inf = write('inf.json', JSON.stringify(llava, null, 2).replace('"micro": 4', '"micro": Infinity'));
    expectInputError(run('plan', '-m', inf, '-c', 'h100-1x8'), 'Infinity is not a JSON number');
  });

  it('schema errors give a JSON pointer each, all of them at once', () => {
    const file = mutated('schema.json', (m) => {
      m.modules[0].arch.layers = 0;
      m.batch.micro = -1;
    });
    const r = run('plan', '-m', file, '-c', 'h100-1x8');
    expectInputError(r, `${file}: /modules/0/arch/layers: must be greater than 0`, `${file}: /batch/micro: must be greater than 0`);
  });

  it('an input naming a module that does not exist', () => {
    const file = mutated('dangling.json', (m) => (m.modules[1].inputs = ['vison']));
    expectInputError(run('plan', '-m', file, '-c', 'h100-1x8'), `${file}: /modules/1/inputs/0: module "vison" does not exist`);
  });

  it('a cycle in the module DAG', () => {
    const file = mutated('cycle.json', (m) => (m.modules[0].inputs = ['llm']));
    expectInputError(run('plan', '-m', file, '-c', 'h100-1x8'), 'cycle in the module DAG', 'vision', 'llm');
  });

  it('unknown flags and bad flag values are usage errors (exit 2)', () => {
    expect(run('plan', '--bogus').status).to.equal(2);
    const r = run('plan', '-m', 'llava-1.5-7b', '-c', 'h100-1x8', '--method', 'magic');
    expect(r.status).to.equal(2);
    expect(r.stderr).to.include('--method must be one of');
  });

  it('a model that fits nowhere exits 3 and says why', () => {
    const small = JSON.parse(fs.readFileSync(path.join(ROOT, 'datasets/clusters/a100-1x8.json'), 'utf8'));
    small.gpu.memoryGiB = 16;
    const cluster = write('small.json', JSON.stringify(small));
    const r = run('plan', '-m', 'internvl-chat-v1.5', '-c', cluster);
    expect(r.status).to.equal(3);
    expect(r.stderr).to.match(/module \w+ needs [\d.]+ GiB per GPU/);
    expect(r.stderr).to.include('16 GiB');
  });

  it('--json reports errors on stdout too', () => {
    const r = run('plan', '-m', path.join(dir, 'nope.json'), '-c', 'h100-1x8', '--json');
    expect(r.status).to.equal(2);
    expect(JSON.parse(r.stdout).error.code).to.equal('E_INPUT');
  });

  it('-o writes a plan that show reads back, and --help teaches with an example', () => {
    const out = path.join(dir, 'plan.json');
    expect(run('plan', '-m', 'llava-1.5-7b', '-c', 'h100-1x8', '--method', 'heuristic', '-o', out).status).to.equal(0);
    const svg = path.join(dir, 't.svg');
    const shown = run('show', out, '--svg', svg);
    expect(shown.status, shown.stderr).to.equal(0);
    expect(shown.stdout).to.include('llava-1.5-7b');
    expect(fs.readFileSync(svg, 'utf8')).to.match(/^<svg[\s\S]*<rect[\s\S]*<\/svg>\n$/);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).to.deep.equal([]);
    const help = run('plan', '--help');
    expect(help.status).to.equal(0);
    expect(help.stdout).to.include('Examples:');
  });

  it('show refuses a hand-edited plan whose quotas exceed the GPU', () => {
    const out = path.join(dir, 'plan2.json');
    expect(run('plan', '-m', 'llava-1.5-7b', '-c', 'h100-1x8', '--method', 'baseline', '-o', out).status).to.equal(0);
    const plan = JSON.parse(fs.readFileSync(out, 'utf8'));
    plan.gpus[0].slots.push({ id: 'g0.extra', quotaFraction: 0.5, smCount: 66, modules: ['llm'] });
    const bad = write('bad-plan.json', JSON.stringify(plan));
    const r = run('show', bad);
    expect(r.status).to.equal(2);
    expect(r.stderr).to.include('more than the whole GPU');
  });

  it('score takes a plan written by hand with no prediction (Mosaic simulates it) and still refuses a broken one', () => {
    const out = path.join(dir, 'plan3.json');
    expect(run('plan', '-m', 'llava-1.5-7b', '-c', 'h100-1x8', '--method', 'baseline', '-o', out).status).to.equal(0);
    const planned = JSON.parse(fs.readFileSync(out, 'utf8'));
    const { prediction, bound, ...hand } = planned;
    expect(bound).to.exist;
    const file = write('hand-plan.json', JSON.stringify({ ...hand, provenance: 'hand' }));
    const r = run('score', file, '--no-bound', '--json');
    expect(r.status, r.stderr).to.equal(0);
    const report = JSON.parse(r.stdout);
    expect(report.provenance).to.equal('hand');
    expect(report.iterationMs).to.be.closeTo(prediction.iterationMs, 1e-9 * prediction.iterationMs);
    expect(report.recordedIterationMs).to.equal(report.iterationMs);
    hand.gpus[0].slots.push({ id: 'g0.extra', quotaFraction: 0.5, smCount: 66, modules: ['llm'] });
    const bad = run('score', write('hand-bad.json', JSON.stringify({ ...hand, provenance: 'hand' })), '--no-bound');
    expectInputError(bad, 'hand-bad.json', 'more than the whole GPU');
  });

  it('plan --profile refuses a profile of another model or device, naming the file', () => {
    const sample = { module: 'llm', device: 'H100-SXM5-80GB', quotaFraction: 1, micro: 4, forwardMs: 10, backwardMs: 20 };
    const other = write('other-model.profile.json', JSON.stringify({ model: 'qwen2-vl-7b', device: 'H100-SXM5-80GB', samples: [sample] }));
    let r = run('plan', '-m', 'llava-1.5-7b', '-c', 'h100-1x8', '--profile', other, '--method', 'heuristic');
    expectInputError(r, `${other}: this profile was measured for model "qwen2-vl-7b", not "llava-1.5-7b"`);
    const cpu = write('cpu.profile.json', JSON.stringify({ model: 'llava-1.5-7b', device: 'cpu-2-core', samples: [{ ...sample, device: 'cpu-2-core' }] }));
    r = run('plan', '-m', 'llava-1.5-7b', '-c', 'h100-1x8', '--profile', cpu, '--method', 'heuristic');
    expectInputError(r, `${cpu}: samples were measured on "cpu-2-core" but cluster h100-1x8 has device`);
  });

  it('plan --scale plans the shrunk model that train replays; a scale outside (0, 1] is a usage error', () => {
    expect(run('plan', '-m', 'llava-1.5-7b', '-c', 'local-cpu', '--scale', '2').stderr).to.include('--scale expects a number in (0, 1] but received "2"');
    // Full size, LLaVA does not fit this machine's memory; at 1/64 it does, and the plan runs.
    const out = path.join(dir, 'cpu-plan.json');
    const planned = run('plan', '-m', 'llava-1.5-7b', '-c', 'local-cpu', '--scale', '0.015625', '--method', 'heuristic', '-o', out);
    expect(planned.status, planned.stderr).to.equal(0);
    const plan = JSON.parse(fs.readFileSync(out, 'utf8'));
    expect(plan.model.name).to.equal('llava-1.5-7b-scaled-0.015625');
    const llm = plan.model.modules.find((m: { name: string }) => m.name === 'llm');
    expect(llm.arch.hidden).to.be.below(llava.modules.find((m: { name: string }) => m.name === 'llm').arch.hidden);
    const trained = run('train', '--plan', out, '--iterations', '1', '--json');
    expect(trained.status, trained.stderr).to.equal(0);
    expect(JSON.parse(trained.stdout).iterationsRun).to.equal(1);
  });
});
