/**
 * Module programs (src/engine/program.ts) and the built-in model: shapes are consistent, gradients
 * pass a finite-difference check in float64 (reference ops), scaling does what its TSDoc says.
 */
import { expect } from 'chai';
import * as path from 'path';

import { BUILTIN_CLASSES, BUILTIN_MODEL, builtinPrograms, builtinSamples, isBuiltinModel } from '../src/engine/builtin-model';
import { referenceOp, validateOp, type Op } from '../src/engine/ops';
import { compileModule, scaleModule, type ModuleProgram } from '../src/engine/program';
import { loadModel } from '../src/spec/load';
import type { ModuleSpec } from '../src/spec/types';
import { ROOT, bundled, rng } from './helpers/fixtures';

type Bufs = Float64Array[];

function allocate(p: ModuleProgram, seed: number): Bufs {
  const r = rng(seed);
  return p.buffers.map((b) => {
    const v = new Float64Array(b.length);
    if (b.init === 'ones') v.fill(1);
    // Random everywhere a value matters (params, data, and non-trivial gammas/biases so every path is exercised).
    if (b.kind === 'param' || b.kind === 'data' || (b.kind === 'activation' && b.name === 'input')) for (let i = 0; i < v.length; i++) v[i] = (2 * r() - 1) * (b.init === 'ones' ? 0.3 : 1) + (b.init === 'ones' ? 1 : 0);
    return v;
  });
}

const run = (ops: readonly Op[], bufs: Bufs): void => ops.forEach((op) => referenceOp(op, bufs));

/** L = Σ output ⊙ R for a fixed random R; backward seeded with dOutput = R. */
function fdCheck(p: ModuleProgram, seed: number, probes = 6): { checked: number; worst: number } {
  const bufs = allocate(p, seed);
  const r = rng(seed + 1);
  const R = Float64Array.from({ length: p.buffers[p.output]!.length }, () => 2 * r() - 1);
  const loss = (): number => {
    run(p.forward, bufs);
    const out = bufs[p.output]!;
    let s = 0;
    for (let i = 0; i < out.length; i++) s += out[i]! * R[i]!;
    return s;
  };
  loss();
  for (const { grad } of p.params) bufs[grad]!.fill(0);
  bufs[p.dOutput]!.set(R);
  run(p.backward, bufs);
  const analytic = new Map<number, Float64Array>();
  for (const { param, grad } of p.params) analytic.set(param, Float64Array.from(bufs[grad]!));
  const targets: { buf: number; grad: Float64Array }[] = p.params.map(({ param }) => ({ buf: param, grad: analytic.get(param)! }));
  if (p.dInput !== undefined && p.input !== undefined) targets.push({ buf: p.input, grad: Float64Array.from(bufs[p.dInput]!) });
  let checked = 0;
  let worst = 0;
  const h = 1e-6;
  for (const t of targets) {
    const v = bufs[t.buf]!;
    for (let j = 0; j < probes; j++) {
      const i = Math.floor(r() * v.length);
      const old = v[i]!;
      v[i] = old + h;
      const up = loss();
      v[i] = old - h;
      const down = loss();
      v[i] = old;
      const numeric = (up - down) / (2 * h);
      const err = Math.abs(numeric - t.grad[i]!) / Math.max(1, Math.abs(numeric));
      worst = Math.max(worst, err);
      expect(err, `${p.buffers[t.buf]!.name}[${i}]: numeric ${numeric} analytic ${t.grad[i]}`).to.be.below(1e-5);
      checked++;
    }
  }
  return { checked, worst };
}

function transformer(overrides: Partial<Extract<ModuleSpec['arch'], { type: 'transformer' }>> = {}, module: Partial<ModuleSpec> = {}): ModuleSpec {
  return {
    name: 't',
    kind: 'llm',
    arch: { type: 'transformer', layers: 2, hidden: 8, ffn: 12, heads: 2, ffnGated: false, biases: ['q', 'k', 'v', 'o', 'ffn'], norm: 'layernorm', tokensPerSample: 3, causal: false, ...overrides },
    trainable: true,
    inputs: ['up'],
    outputElementsPerSample: 24,
    source: 'test',
    ...module,
  };
}

function mlp(module: Partial<ModuleSpec> = {}): ModuleSpec {
  return { name: 'p', kind: 'projector', arch: { type: 'mlp', widths: [6, 10, 5], bias: true, tokensPerSample: 2 }, trainable: true, inputs: ['up'], outputElementsPerSample: 10, source: 'test', ...module };
}

/** Every op is valid against the program's own buffer sizes. */
function expectValid(p: ModuleProgram): void {
  const lengths = p.buffers.map((b) => b.length);
  for (const [phase, ops] of [['forward', p.forward], ['backward', p.backward], ['optimizer', p.optimizer]] as const) {
    ops.forEach((op, i) => validateOp(op, lengths, `${p.module} ${phase} ${i}`));
  }
}

describe('engine programs: compiled modules', function () {
  this.timeout(30000);

  it('a transformer module passes a finite-difference check (weights and input)', () => {
    const p = compileModule(transformer(), { micro: 2, scale: 1 });
    expectValid(p);
    const { checked } = fdCheck(p, 11);
    expect(checked).to.be.greaterThan(100);
    expect(p.input).to.be.a('number');
    expect(p.dInput).to.be.a('number');
    expect(p.outputElementsPerSample).to.equal(24);
  });

  it('a causal transformer with grouped-query attention, a gated FFN and an LM head passes too', () => {
    const p = compileModule(transformer({ heads: 4, kvHeads: 2, ffnGated: true, biases: ['q', 'v'], causal: true, vocab: 7, norm: 'rmsnorm' }), { micro: 2, scale: 1 });
    expectValid(p);
    fdCheck(p, 12);
    expect(p.outputElementsPerSample).to.equal(3 * 7);
  });

  it('an mlp module passes, with an input that is zero-padded or truncated per sample', () => {
    for (const inputWidth of [12, 9, 15]) {
      const p = compileModule(mlp(), { micro: 3, scale: 1, inputWidth });
      expectValid(p);
      expect(p.inputElementsPerSample).to.equal(inputWidth);
      fdCheck(p, 13 + inputWidth);
    }
  });

  it('an explicit module becomes a GEMM chain with the spec’s forward FLOPs and passes', () => {
    const m: ModuleSpec = { name: 'x', kind: 'unet', arch: { type: 'explicit', params: 1000, forwardFlopsPerSample: 3 * 2 * 4 * 8 * 8, activationBytesPerSample: 100, gemmRowsPerSample: 4, gemmCols: 8 }, trainable: true, inputs: ['up'], outputElementsPerSample: 32, source: 'test' };
    const p = compileModule(m, { micro: 2, scale: 1, inputWidth: 32 });
    expectValid(p);
    expect(p.flops.forward).to.equal(2 * 3 * 2 * 4 * 8 * 8);
    fdCheck(p, 14);
  });

  it('a trainable source module reads data and produces no input gradient', () => {
    const p = compileModule(transformer({}, { inputs: [] }), { micro: 2, scale: 1 });
    expect(p.input).to.equal(undefined);
    expect(p.data).to.be.a('number');
    expect(p.dInput).to.equal(undefined);
    expect(p.params.length).to.be.greaterThan(0);
    fdCheck(p, 15);
  });

  it('a frozen module has no grads or optimizer ops, still backpropagates to its input, or skips backward when nothing upstream trains', () => {
    const frozen = compileModule(transformer({}, { trainable: false }), { micro: 2, scale: 1 });
    expect(frozen.params).to.deep.equal([]);
    expect(frozen.frozenParams.length).to.be.greaterThan(0);
    expect(frozen.optimizer).to.deep.equal([]);
    expect(frozen.buffers.some((b) => b.kind === 'grad' || b.kind === 'state')).to.equal(false);
    expect(frozen.dInput).to.be.a('number');
    fdCheck(frozen, 16);
    const idle = compileModule(transformer({}, { trainable: false }), { micro: 2, scale: 1, needsInputGrad: false });
    expect(idle.backward).to.deep.equal([]);
    expect(idle.dInput).to.equal(undefined);
    expect(idle.flops.backward).to.equal(0);
  });

  it('counts FLOPs from the ops: backward of a trainable GEMM stack is twice the forward', () => {
    const p = compileModule(mlp(), { micro: 4, scale: 1 });
    const rows = 4 * 2;
    expect(p.flops.forward).to.equal(2 * rows * (6 * 10 + 10 * 5));
    expect(p.flops.backward).to.equal(2 * p.flops.forward);
    const t = compileModule(transformer(), { micro: 2, scale: 1 });
    expect(t.flops.backward).to.be.greaterThan(1.9 * t.flops.forward);
  });

  it('scale shrinks layers, widths, heads and tokens as documented', () => {
    const s = scaleModule(transformer({ layers: 32, hidden: 4096, ffn: 11008, heads: 32, kvHeads: 8, tokensPerSample: 2048, vocab: 32000 }), 0.1);
    const a = s.arch as Extract<ModuleSpec['arch'], { type: 'transformer' }>;
    expect([a.layers, a.heads, a.kvHeads, a.ffn, a.tokensPerSample, a.vocab]).to.deep.equal([3, 3, 1, 1101, 205, 3200]);
    expect(a.hidden).to.equal(3 * Math.round(409.6 / 3));
    expect(a.hidden % a.heads).to.equal(0);
    expect(scaleModule(mlp(), 1)).to.deep.equal(mlp());
    expect(() => scaleModule(mlp(), 0)).to.throw(RangeError, /scale in \(0, 1\]/);
  });

  it('every bundled module compiles at a small scale into ops that fit their buffers', () => {
    for (const file of bundled('models')) {
      const model = loadModel(file);
      const widths = new Map<string, number>();
      for (const m of model.modules) {
        const inputWidth = m.inputs.reduce((s, i) => s + (widths.get(i) ?? 0), 0);
        const p = compileModule(m, { micro: model.batch.micro, scale: 0.02, ...(m.inputs.length > 0 ? { inputWidth } : {}) });
        expectValid(p);
        widths.set(m.name, p.outputElementsPerSample);
        expect(p.flops.forward, `${path.basename(file)} ${m.name}`).to.be.greaterThan(0);
      }
    }
  });
});

describe('engine programs: the built-in model', function () {
  this.timeout(30000);

  it('ships as datasets/models/builtin-mm.json, identical to the in-code spec and valid', () => {
    const model = loadModel(path.join(ROOT, 'datasets/models/builtin-mm.json'));
    const { $schema: _, ...rest } = model as unknown as Record<string, unknown>;
    expect(rest).to.deep.equal(JSON.parse(JSON.stringify(BUILTIN_MODEL)));
    expect(isBuiltinModel(model)).to.equal(true);
    expect(isBuiltinModel({ ...model, modules: model.modules.slice(1) })).to.equal(false);
  });

  it('generates the same seeded data for the same (seed, iteration, sample), and every class occurs', () => {
    const a = builtinSamples(3, 2, 0, 64);
    const b = builtinSamples(3, 2, 0, 64);
    const part = builtinSamples(3, 2, 32, 32);
    expect(Array.from(a.image)).to.deep.equal(Array.from(b.image));
    expect(Array.from(a.labels.subarray(32))).to.deep.equal(Array.from(part.labels));
    expect(Array.from(a.audio.subarray(32 * 32))).to.deep.equal(Array.from(part.audio));
    expect(new Set(a.labels)).to.deep.equal(new Set([0, 1, 2, 3]));
    expect(Array.from(builtinSamples(4, 2, 0, 8).image)).not.to.deep.equal(Array.from(a.image.subarray(0, 8 * 16)));
  });

  it('end to end (two encoders → concatenation → head → cross-entropy) passes a finite-difference check', () => {
    const micro = 3;
    const programs = builtinPrograms(micro);
    const [image, audio, head] = ['image', 'audio', 'head'].map((n) => programs.get(n)!) as [ModuleProgram, ModuleProgram, ModuleProgram];
    const bi = allocate(image, 21);
    const ba = allocate(audio, 22);
    const bh = allocate(head, 23);
    const batch = builtinSamples(5, 0, 0, micro);
    bi[image.data!]!.set(batch.image);
    ba[audio.data!]!.set(batch.audio);
    const wI = image.outputElementsPerSample;
    const wA = audio.outputElementsPerSample;
    const W = head.inputElementsPerSample;
    expect(W).to.equal(wI + wA);
    const extra: Bufs = [Float64Array.from(batch.labels), new Float64Array(1), new Float64Array(micro * BUILTIN_CLASSES), new Float64Array(micro * BUILTIN_CLASSES)];
    const lossOps = (logits: Float64Array): number => {
      referenceOp({ op: 'softmaxCrossEntropy', logits: 0, labels: 1, loss: 2, probs: 3, rows: micro, cols: BUILTIN_CLASSES }, [logits, extra[0]!, extra[1]!, extra[2]!]);
      return extra[1]![0]!;
    };
    const forward = (): number => {
      run(image.forward, bi);
      run(audio.forward, ba);
      const input = bh[head.input!]!;
      for (let s = 0; s < micro; s++) {
        input.set(bi[image.output]!.subarray(s * wI, (s + 1) * wI), s * W);
        input.set(ba[audio.output]!.subarray(s * wA, (s + 1) * wA), s * W + wI);
      }
      run(head.forward, bh);
      return lossOps(bh[head.output]!);
    };
    forward();
    for (const [p, b] of [[image, bi], [audio, ba], [head, bh]] as const) for (const { grad } of p.params) b[grad]!.fill(0);
    referenceOp({ op: 'softmaxCrossEntropyBackward', probs: 0, labels: 1, dLogits: 2, rows: micro, cols: BUILTIN_CLASSES }, [extra[2]!, extra[0]!, bh[head.dOutput]!]);
    run(head.backward, bh);
    const dIn = bh[head.dInput!]!;
    for (let s = 0; s < micro; s++) {
      bi[image.dOutput]!.set(dIn.subarray(s * W, s * W + wI), s * wI);
      ba[audio.dOutput]!.set(dIn.subarray(s * W + wI, (s + 1) * W), s * wA);
    }
    run(image.backward, bi);
    run(audio.backward, ba);
    const r = rng(99);
    let checked = 0;
    for (const [p, b] of [[image, bi], [audio, ba], [head, bh]] as const) {
      for (const { param, grad } of p.params) {
        const v = b[param]!;
        const g = Float64Array.from(b[grad]!);
        for (let j = 0; j < 3; j++) {
          const i = Math.floor(r() * v.length);
          const old = v[i]!;
          v[i] = old + 1e-6;
          const up = forward();
          v[i] = old - 1e-6;
          const down = forward();
          v[i] = old;
          const numeric = (up - down) / 2e-6;
          expect(Math.abs(numeric - g[i]!), `${p.module}.${p.buffers[param]!.name}[${i}]`).to.be.below(1e-6 * Math.max(1, Math.abs(numeric)) + 1e-8);
          checked++;
        }
      }
    }
    expect(checked).to.be.greaterThan(50);
  });
});
