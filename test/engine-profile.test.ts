import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadNative } from '../src/engine/native';
import type { Op } from '../src/engine/ops';
import { coreLevels, profileModel, shiftBuffers, type CompileFn, type ProfiledProgram } from '../src/engine/profile';
import { calibrate } from '../src/perf/calibration';
import { buildPerfModel } from '../src/perf/perf-model';
import { curveTime } from '../src/perf/timing';
import { schemaValidator } from '../src/spec/schemas';
import { localCpuCluster } from '../src/spec/local-cpu';
import type { ClusterSpec, ModelSpec, Profile, ProfileSample } from '../src/spec/types';
import { CLI, ROOT, explicitModule, rng, tinyModel } from './helpers/fixtures';

const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: ROOT });

/**
 * Stand-in for compileModule: a two-layer MLP (x·W1 → ReLU → ·W2) with its backward, sized from the
 * module's gemmCols so two modules differ. Enough to exercise profiling without the real compiler.
 */
const standIn: CompileFn = (module, { micro, scale }) => {
  const width = module.arch.type === 'explicit' ? Math.max(16, Math.round(module.arch.gemmCols * scale)) : 64;
  const rows = 32 * micro;
  const buffers: ProfiledProgram['buffers'] = [
    { name: 'x', length: rows * width, init: 'random' }, // 0
    { name: 'w1', length: width * width, init: 'random' }, // 1
    { name: 'h', length: rows * width, init: 'zero' }, // 2
    { name: 'a', length: rows * width, init: 'zero' }, // 3
    { name: 'w2', length: width * width, init: 'random' }, // 4
    { name: 'y', length: rows * width, init: 'zero' }, // 5
    { name: 'dy', length: rows * width, init: 'zero' }, // 6
    { name: 'da', length: rows * width, init: 'zero' }, // 7
    { name: 'dh', length: rows * width, init: 'zero' }, // 8
    { name: 'dw1', length: width * width, init: 'zero' }, // 9
    { name: 'dw2', length: width * width, init: 'zero' }, // 10
    { name: 'dx', length: rows * width, init: 'zero' }, // 11
  ];
  const [m, n, k] = [rows, width, width];
  const forward: Op[] = [
    { op: 'gemm', a: 0, b: 1, c: 2, m, n, k },
    { op: 'relu', x: 2, y: 3, n: rows * width },
    { op: 'gemm', a: 3, b: 4, c: 5, m, n, k },
  ];
  const backward: Op[] = [
    { op: 'gemm', a: 6, b: 4, c: 7, m, n: k, k: n, transB: true },
    { op: 'gemm', a: 3, b: 6, c: 10, m: k, n, k: m, transA: true },
    { op: 'reluBackward', x: 2, dy: 7, dx: 8, n: rows * width },
    { op: 'gemm', a: 0, b: 8, c: 9, m: k, n, k: m, transA: true },
    { op: 'gemm', a: 8, b: 1, c: 11, m, n: k, k: n, transB: true },
  ];
  return { module: module.name, micro, buffers, input: 0, output: 5, dOutput: 6, forward, backward };
};

const model: ModelSpec = tinyModel([explicitModule('enc', 1e6, 1e9), explicitModule('head', 1e6, 2e9, ['enc'])], {
  name: 'tiny-profile',
  batch: { global: 4, micro: 2 },
});
const modelWithCols = { ...model, modules: [model.modules[0], { ...model.modules[1], arch: { ...(model.modules[1] as any).arch, gemmCols: 256 } }] } as ModelSpec;

describe('engine profile: measure modules under core quotas, calibrate the performance model', () => {
  const native = loadNative();
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosaic-profile-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('shiftBuffers moves every buffer field of an op and nothing else', () => {
    const op: Op = { op: 'gemm', a: 0, b: 1, c: 2, m: 3, n: 4, k: 5, transA: true };
    expect(shiftBuffers(op, 10)).to.deep.equal({ op: 'gemm', a: 10, b: 11, c: 12, m: 3, n: 4, k: 5, transA: true });
    expect(coreLevels(undefined, 3)).to.deep.equal([1, 2, 3]);
    expect(() => coreLevels([0], 2)).to.throw(/core counts in \[1, 2\]/);
  });

  it('profiles every module at every core count and in pairs; the output is schema-valid', async function () {
    if (!native.ok) this.skip();
    const cores = native.ok ? native.binding.cpuInfo().allowedCores : [];
    const progress: number[] = [];
    const profile = await profileModel(modelWithCols, { compile: standIn, scale: 0.25, repeats: 3, onProgress: (p) => progress.push(p.done) });
    const validate = schemaValidator('profile');
    expect(validate(JSON.parse(JSON.stringify(profile))), JSON.stringify(validate.errors)).to.equal(true);
    expect(profile.model).to.equal('tiny-profile');
    expect(profile.device).to.equal(localCpuCluster(cores.length).gpu.name);
    const solo = profile.samples.filter((s) => !s.coRunning);
    expect(solo.map((s) => `${s.module}@${s.quotaFraction}`)).to.deep.equal(
      ['enc', 'head'].flatMap((m) => cores.map((_, i) => `${m}@${(i + 1) / cores.length}`)),
    );
    for (const s of profile.samples) {
      expect(s.forwardMs).to.be.greaterThan(0);
      expect(s.backwardMs).to.be.greaterThan(0);
      expect(s.micro).to.equal(2);
      expect(s.device).to.equal(profile.device);
    }
    // Timings are not asserted to fall with cores: on a shared 2-core VM the second core is often
    // busy with other work, so "2 cores faster than 1" is a property of the machine, not of the code.
    const pairs = profile.samples.filter((s) => s.coRunning);
    expect(pairs.length).to.equal(cores.length >= 2 ? 2 : 0);
    if (cores.length >= 2) expect(pairs.map((s) => [s.module, s.coRunning![0]!.module])).to.deep.equal([['enc', 'head'], ['head', 'enc']]);
    expect(progress).to.deep.equal(progress.map((_, i) => i + 1));
    // Mean of the repeats by default; activation buffers rotate over at most the iteration's 4/2 microbatches.
    expect(profile.measurement).to.include({ backend: 'cpu', scale: 0.25, repeats: 3, statistic: 'trimmed', bufferSets: 2 });
    // The perf model takes it on the local CPU "cluster".
    if (cores.length >= 2) {
      const report = calibrate(modelWithCols, localCpuCluster(cores.length), profile, 'mem');
      expect(report.perf.source).to.equal('calibrated');
      for (const m of report.modules) expect(m.source).to.equal('calibrated');
    }
  });

  it('refuses --device cuda with one clear reason', async () => {
    let err: any;
    await profileModel(model, { device: 'cuda', compile: standIn }).catch((e) => (err = e));
    expect(err?.code).to.equal('E_CUDA_NO_KERNELS');
    expect(err.message).to.include('no op kernels');
  });

  describe('calibrate', () => {
    const cluster4: ClusterSpec = { ...localCpuCluster(4), name: 'cpu4' };
    const truth = { enc: { overheadMs: 0.2, workMs: 1.5, saturationFraction: 0.75 }, head: { overheadMs: 0.05, workMs: 3, saturationFraction: 1 } };
    const synthetic = (noise: number, alpha?: number): Profile => {
      const r = rng(7);
      const samples: ProfileSample[] = [];
      for (const [name, p] of Object.entries(truth)) {
        for (const q of [0.25, 0.5, 0.75, 1]) {
          const jitter = () => 1 + noise * (r() - 0.5);
          samples.push({ module: name, device: cluster4.gpu.name, quotaFraction: q, micro: 2, forwardMs: curveTime(p, q) * jitter(), backwardMs: 2 * curveTime(p, q) * jitter() });
        }
      }
      if (alpha !== undefined) {
        const perf = buildPerfModel(model, cluster4, { model: model.name, device: cluster4.gpu.name, samples });
        for (const [a, b] of [['enc', 'head'], ['head', 'enc']] as const) {
          const bw = perf.timings.get(b)!.bandwidthShare(0.5);
          const fwd = curveTime(truth[a], 0.5) * (1 + alpha * bw);
          samples.push({ module: a, device: cluster4.gpu.name, quotaFraction: 0.5, micro: 2, forwardMs: fwd, backwardMs: 2 * fwd, coRunning: [{ module: b, quotaFraction: 0.5 }] });
        }
      }
      return { model: model.name, device: cluster4.gpu.name, samples };
    };

    it('recovers known curves and the interference α, with a per-module error', () => {
      const report = calibrate(model, cluster4, synthetic(0, 0.4), 'synthetic');
      for (const m of report.modules) {
        if (m.source !== 'calibrated') throw new Error(`${m.module} not calibrated`);
        const t = truth[m.module as 'enc' | 'head'];
        expect(m.forward.mapePercent).to.be.lessThan(0.1);
        expect(m.forward.overheadMs).to.be.closeTo(t.overheadMs, 1e-3);
        expect(m.forward.workMs).to.be.closeTo(t.workMs, 1e-3);
        expect(m.backward!.workMs).to.be.closeTo(2 * t.workMs, 1e-3);
        expect(m.quotaFractions).to.deep.equal([0.25, 0.5, 0.75, 1]);
      }
      expect(report.interference.source).to.equal('fitted');
      expect(report.interference.alpha).to.be.closeTo(0.4, 1e-6);
      expect(report.interference.mapePercent).to.be.lessThan(1e-6);
      // With 10 % noise the fit still reports its (now non-zero) error.
      const noisy = calibrate(model, cluster4, synthetic(0.1), 'noisy');
      const enc = noisy.modules[0]!;
      expect(enc.source === 'calibrated' && enc.forward.mapePercent).to.be.within(0.01, 10);
      expect(noisy.interference.source).to.equal('default');
    });

    it('on a CPU cluster the planner uses the measured times, even where more cores are slower; on a GPU the curve', () => {
      const slower: ProfileSample[] = [0.25, 0.5, 0.75, 1].map((q) => ({ module: 'enc', device: cluster4.gpu.name, quotaFraction: q, micro: 2, forwardMs: 1 + q, backwardMs: 2 + q }));
      const cpu = buildPerfModel(model, cluster4, { model: model.name, device: cluster4.gpu.name, samples: slower }).timings.get('enc')!;
      expect(cpu.forwardMs(0.25)).to.be.closeTo(1.25, 1e-9);
      expect(cpu.forwardMs(1)).to.be.closeTo(2, 1e-9);
      expect(cpu.forwardMs(0.6)).to.be.closeTo(1.6, 1e-9); // interpolated
      expect(cpu.backwardMs(1)).to.be.closeTo(3, 1e-9);
      const gpuCluster: ClusterSpec = { ...cluster4, device: 'gpu' };
      const gpu = buildPerfModel(model, gpuCluster, { model: model.name, device: cluster4.gpu.name, samples: slower }).timings.get('enc')!;
      expect(gpu.forwardMs(1)).to.be.at.most(gpu.forwardMs(0.25)); // the fitted curve never rises with q
    });

    it('rejects a profile for another model, another device, or with one quota level', () => {
      const p = synthetic(0);
      expect(() => calibrate({ ...model, name: 'other' }, cluster4, p, 'p.json')).to.throw(/p.json: this profile was measured for model "tiny-profile", not "other"/);
      expect(() => calibrate(model, localCpuCluster(3), p, 'p.json')).to.throw(/measured on "cpu-4-core" but cluster local-cpu has device "cpu-3-core"/);
      const one = { ...p, samples: p.samples.filter((s) => s.quotaFraction === 0.5) };
      expect(() => calibrate(model, cluster4, one, 'p.json')).to.throw(/too few points for module enc/);
    });
  });

  describe('CLI', () => {
    const cpuDevice = localCpuCluster().gpu.name;
    const files = () => {
      const modelFile = path.join(dir, 'tiny.json');
      fs.writeFileSync(modelFile, JSON.stringify(model));
      const r = rng(3);
      const samples: ProfileSample[] = ['enc', 'head'].flatMap((m) =>
        [0.5, 1].map((q) => ({ module: m, device: cpuDevice, quotaFraction: q, micro: 2, forwardMs: (0.1 + 1 / q) * (1 + 0.02 * r()), backwardMs: 2 / q })),
      );
      const profileFile = path.join(dir, 'profile.json');
      fs.writeFileSync(profileFile, JSON.stringify({ model: model.name, device: cpuDevice, samples }));
      return { modelFile, profileFile };
    };
    const expectOneLine = (r: ReturnType<typeof run>, fragment: string) => {
      expect(r.status, r.stderr).to.equal(2);
      expect(r.stderr).to.include(fragment);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
      expect(r.stderr).not.to.match(/\n\s+at /);
    };

    it('calibrate prints the fit error per module and the interference α; --json too', () => {
      const { modelFile, profileFile } = files();
      const r = run('calibrate', '-m', modelFile, '-p', profileFile);
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/enc\s+2 forward\s+\d+\.\d+ %/);
      expect(r.stdout).to.match(/head\s+2 forward\s+\d+\.\d+ %/);
      expect(r.stdout).to.include('interference α = 0.3 (default: no co-running samples');
      const j = run('calibrate', '-m', modelFile, '-p', profileFile, '--json');
      expect(j.status, j.stderr).to.equal(0);
      const report = JSON.parse(j.stdout);
      expect(report.modules.map((m: any) => m.source)).to.deep.equal(['calibrated', 'calibrated']);
      expect(report.modules[0].forward.mapePercent).to.be.a('number');
      expect(report.perfSource).to.equal('calibrated');
    });

    it('a profile for another model is exit 2 with one line', () => {
      const { profileFile } = files();
      expectOneLine(run('calibrate', '-m', 'llava-1.5-7b', '-p', profileFile), 'this profile was measured for model "tiny-profile", not "llava-1.5-7b"');
    });

    it('--device cuda is exit 2 with one line', () => {
      expectOneLine(run('profile', '-m', 'llava-1.5-7b', '--device', 'cuda'), '--device cuda is not supported: the CUDA backend has no op kernels');
    });

    it('profile -o on the built-in model writes a schema-valid profile that calibrate and plan take', function () {
      if (!native.ok) this.skip();
      const out = path.join(dir, 'builtin-profile.json');
      const r = run('profile', '-m', 'builtin-mm', '--repeats', '2', '-o', out);
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout).to.include('wrote');
      expect(r.stderr).to.match(/profile 1\/\d+: image @ 1 core\n/); // plain progress lines when not a terminal
      const written = JSON.parse(fs.readFileSync(out, 'utf8'));
      const validate = schemaValidator('profile');
      expect(validate(written), JSON.stringify(validate.errors)).to.equal(true);
      expect(written.model).to.equal('builtin-mm');
      expect(written.device).to.equal(cpuDevice);
      expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).to.deep.equal([]);
      const c = run('calibrate', '-m', 'builtin-mm', '-p', out);
      if (localCpuCluster().gpu.smCount >= 2) {
        expect(c.status, c.stderr).to.equal(0);
        expect(c.stdout).to.match(/audio\s+2 forward/);
        const plan = run('plan', '-m', 'builtin-mm', '-c', 'local-cpu', '-p', out, '--method', 'heuristic', '--json');
        expect(plan.status, plan.stderr).to.equal(0);
        expect(JSON.parse(plan.stdout).perfSource).to.equal('calibrated');
      } else expectOneLine(c, 'too few points');
    });

    it('a profile from another device is exit 2 with one line', () => {
      const { modelFile, profileFile } = files();
      expectOneLine(run('calibrate', '-m', modelFile, '-p', profileFile, '-c', 'h100-1x8'), `samples were measured on "${cpuDevice}" but cluster h100-1x8 has device`);
    });

    it('bad flags are usage errors; --help has examples', () => {
      expectOneLine(run('profile', '-m', 'llava-1.5-7b', '--levels', '1,x'), '--levels expects a comma-separated list of core counts');
      expectOneLine(run('profile', '-m', 'llava-1.5-7b', '--scale', '2'), '--scale expects a number in (0, 1]');
      expectOneLine(run('profile', '-m', 'builtin-mm', '--levels', '99'), 'core counts in [1,');
      const help = run('profile', '--help');
      expect(help.status).to.equal(0);
      expect(help.stdout).to.include('Examples:');
      expect(run('calibrate', '--help').stdout).to.include('Examples:');
    });
  });
});
