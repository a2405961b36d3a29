import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseManifest } from '../src/batch/manifest';
import { MosaicError } from '../src/errors';
import { candidateGroupings, MAX_EXHAUSTIVE_MODULES, setPartitions } from '../src/plan/heuristic';
import { validatePlan } from '../src/plan/validate';
import { ROOT } from './helpers/fixtures';
import { runCliInProcess, STACK_FRAME, type CliResult } from './helpers/run-cli';

/**
 * The extreme inputs of issue 12, each refused in one line (exit 2) or planned (exit 0, a valid plan):
 * never a stack trace, an invalid plan, a warning or a hang.
 */
describe('numbers bounded where physics bounds them', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosaic-bounds-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const read = (rel: string) => fs.readFileSync(path.join(ROOT, rel), 'utf8');
  const write = (name: string, text: string) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text);
    return f;
  };
  const h100 = read('datasets/clusters/h100-1x8.json');
  const cluster = (name: string, edit: (c: any) => void) => {
    const c = JSON.parse(h100);
    edit(c);
    return write(name, JSON.stringify(c, null, 2));
  };
  const refused = (r: CliResult, ...fragments: string[]) => {
    expect(r.status, r.stderr).to.equal(2);
    expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
    for (const f of fragments) expect(r.stderr).to.include(f);
    expect(r.stderr).not.to.match(STACK_FRAME);
  };
  const plan = (...args: string[]) => runCliInProcess(['plan', '--method', 'heuristic', ...args]);

  it('1,000,000 GPUs per node (a stack overflow before) and 4097 GPUs in all', async () => {
    refused(await plan('-m', 'qwen-audio', '-c', cluster('gpn.json', (c) => (c.gpusPerNode = 1_000_000))), '/gpusPerNode: must be <= 1024');
    refused(await plan('-m', 'qwen-audio', '-c', cluster('many.json', (c) => ((c.nodes = 4097), (c.gpusPerNode = 1)))), '/nodes: must be <= 4096');
    refused(await plan('-m', 'qwen-audio', '-c', cluster('total.json', (c) => ((c.nodes = 8), (c.gpusPerNode = 1024)))), '8192 GPUs, more than 4096');
  });

  it('memoryGiB 1e999 (Infinity), links of 5e-324 GB/s, a latency of 1e308 µs, a GPU of 5e-324 TFLOP/s', async () => {
    refused(await plan('-m', 'qwen-audio', '-c', write('inf.json', h100.replace('"memoryGiB": 80', '"memoryGiB": 1e999'))), '/gpu/memoryGiB: must be <= 65536');
    refused(await plan('-m', 'qwen-audio', '-c', cluster('link.json', (c) => (c.links.interNodeGBps = 5e-324))), '/links/interNodeGBps: must be >= 0.001');
    refused(await plan('-m', 'qwen-audio', '-c', cluster('lat.json', (c) => (c.links.latencyUs = 1e308))), '/links/latencyUs: must be <= 1000000');
    refused(await plan('-m', 'qwen-audio', '-c', cluster('tflops.json', (c) => (c.gpu.peakTflops = 5e-324))), '/gpu/peakTflops: must be >= 0.001');
  });

  it('a global batch of 2^53 (a hang before), and more micro-batches per iteration than the simulator runs', async () => {
    refused(await plan('-m', 'qwen-audio', '-c', 'h100-1x8', '--global-batch', String(2 ** 53), '--micro-batch', '1'), '--global-batch expects at most 2147483648');
    refused(await plan('-m', 'qwen-audio', '-c', 'h100-1x8', '--global-batch', String(2 ** 31), '--micro-batch', '1'), 'micro-batches per iteration', 'raise the micro-batch');
    const m = JSON.parse(read('datasets/models/qwen-audio.json'));
    m.batch = { global: 2 ** 31, micro: 1 };
    refused(await plan('-m', write('big-batch.json', JSON.stringify(m)), '-c', 'h100-1x8'), '/batch: 2147483648 micro-batches per iteration');
    const manifest = { cases: [{ model: 'qwen-audio', cluster: 'h100-1x8', batch: { global: 2 ** 20, micro: 1 } }] };
    expect(() => parseManifest(manifest, path.join(dir, 'm.json'))).to.throw(MosaicError, 'micro-batches per iteration');
  });

  it('time limits above 2^31 ms (a TimeoutOverflowWarning before) are refused, in flags and manifests', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      refused(await runCliInProcess(['plan', '-m', 'qwen-audio', '-c', 'h100-1x8', '--time-limit', '3000000']), '--time-limit expects at most 604800 seconds');
      refused(await runCliInProcess(['compare', '-m', 'qwen-audio', '-c', 'h100-1x8', '--time-limit', '1e999']), '--time-limit expects at most 604800 seconds');
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).to.deep.equal([]);
    expect(() => parseManifest({ timeLimitSeconds: 3e6, cases: [{ model: 'qwen-audio', cluster: 'h100-1x8' }] }, path.join(dir, 'm.json'))).to.throw(MosaicError, '/timeLimitSeconds: must be <= 604800');
  });

  it('30 encoders feeding one LLM (a hang past 60 s before): a valid plan, heuristic and exact search', async () => {
    const base = JSON.parse(read('datasets/models/imagebind-llm.json'));
    const enc = base.modules.find((x: any) => x.kind.endsWith('encoder'));
    const proj = base.modules.find((x: any) => x.kind === 'projector');
    const llm = base.modules.find((x: any) => x.kind === 'llm');
    const encoders = Array.from({ length: 30 }, (_, i) => ({ ...enc, name: `enc${i}`, inputs: [], publishedParams: undefined }));
    const m = { ...base, publishedTotalParams: undefined, modules: [...encoders, { ...proj, inputs: encoders.map((e) => e.name), publishedParams: undefined }, llm] };
    const file = write('enc30.json', JSON.stringify(m));
    for (const method of ['heuristic', 'all']) {
      const r = await runCliInProcess(['plan', '-m', file, '-c', 'h100-1x8', '--method', method, '--time-limit', '2', '--json']);
      expect(r.status, r.stderr).to.equal(0);
      expect(validatePlan(JSON.parse(r.stdout).best)).to.deep.equal([]);
    }
    // The heuristic's groupings: every set partition up to 7 modules, contiguous splits by work above.
    expect(candidateGroupings([1, 2, 3, 4, 5, 6, 7], (x) => x)).to.have.length(setPartitions([1, 2, 3, 4, 5, 6, 7]).length);
    const big = Array.from({ length: 32 }, (_, i) => i);
    const groups = candidateGroupings(big, (x) => x);
    expect(MAX_EXHAUSTIVE_MODULES).to.equal(7);
    expect(groups).to.have.length(1 + 31 + 465 + 4495); // C(31, 0..3)
    for (const g of groups) expect(g.flat().sort((a, b) => a - b)).to.deep.equal(big);
    // 33 modules are refused by the schema.
    const tooMany = { ...m, modules: [...Array.from({ length: 31 }, (_, i) => ({ ...enc, name: `e${i}`, inputs: [] })), { ...proj, inputs: ['e0'] }, llm] };
    refused(await plan('-m', write('enc33.json', JSON.stringify(tooMany)), '-c', 'h100-1x8'), '/modules: must NOT have more than 32 items');
  });

  it('every architecture number 1 (a "planner produced an invalid plan" before): a valid plan', async () => {
    const m = JSON.parse(read('datasets/models/llava-1.5-7b.json'));
    for (const mod of m.modules) for (const [k, v] of Object.entries(mod.arch)) if (typeof v === 'number') mod.arch[k] = 1;
    for (const mod of m.modules) delete mod.publishedParams;
    const r = await runCliInProcess(['plan', '-m', write('ones.json', JSON.stringify(m)), '-c', 'h100-1x8', '--method', 'all', '--time-limit', '2', '--json']);
    expect(r.status, r.stderr).to.equal(0);
    expect(validatePlan(JSON.parse(r.stdout).best)).to.deep.equal([]);
  });
});
