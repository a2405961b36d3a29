/**
 * Every native CPU op against the float64 JS reference (ops.ts), and every backward op against a
 * central finite difference of the reference forward (float64).
 */
import { expect } from 'chai';
import { rng } from './helpers/fixtures';

import { loadNative, runGraph } from '../src/engine/native';
import { OP_NAMES, referenceOp, type Op, type Vec } from '../src/engine/ops';
import { allowedCores } from './helpers/cores';

/** Up to two usable cores (from the addon's allowed set, never hard-coded ids). */
const upToTwoCores = (): number[] => allowedCores().slice(0, 2);


function randomArray(r: () => number, n: number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
  return a;
}

/** Max-norm relative comparison: |a − b| ≤ rtol · max(|b|, ‖b‖∞) elementwise. */
function expectClose(actual: Float32Array, expected: Float32Array, what: string, rtol = 1e-4): void {
  expect(actual.length, `${what} length`).to.equal(expected.length);
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < expected.length; i++) {
    const [a, b] = [actual[i] as number, expected[i] as number];
    const tol = rtol * Math.max(Math.abs(b), scale, 1e-30);
    if (!(Math.abs(a - b) <= tol)) expect.fail(`${what}[${i}]: native ${a} vs reference ${b} (tolerance ${tol})`);
  }
}

type Case = { readonly name: string; readonly op: Op; readonly buffers: Float32Array[]; readonly cores?: number[] };

/** Runs `op` natively on copies and via the reference on copies; compares every buffer. */
async function checkAgainstReference(c: Case): Promise<void> {
  const native = c.buffers.map((b) => b.slice());
  const reference = c.buffers.map((b) => b.slice());
  referenceOp(c.op, reference);
  await runGraph({ contexts: [{ id: 0, cores: c.cores ?? upToTwoCores() }], tasks: [{ id: 1, context: 0, ops: [c.op], deps: [] }], buffers: native });
  native.forEach((b, i) => expectClose(b, reference[i] as Float32Array, `${c.name} buffer #${i}`));
}

function cases(): Case[] {
  const r = rng(42);
  const A = (n: number, lo = -1, hi = 1): Float32Array => randomArray(r, n, lo, hi);
  const out: Case[] = [];
  for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
    const [m, n, k] = [37, 45, 29];
    out.push({ name: `gemm tA=${transA} tB=${transB}`, op: { op: 'gemm', a: 0, b: 1, c: 2, m, n, k, transA, transB, alpha: 0.7, beta: 0.3 }, buffers: [A(m * k), A(k * n), A(m * n)] });
  }
  for (const count of [1, 2]) {
    const cores = allowedCores().slice(0, count);
    const [m, n, k] = [150, 131, 170];
    out.push({ name: `gemm big on ${cores.length} core(s)`, cores, op: { op: 'gemm', a: 0, b: 1, c: 2, m, n, k, transB: true }, buffers: [A(m * k), A(n * k), A(m * n)] });
  }
  out.push({ name: 'gemm wide (column split)', op: { op: 'gemm', a: 0, b: 1, c: 2, m: 7, n: 300, k: 120, alpha: 1, beta: 1 }, buffers: [A(7 * 120), A(120 * 300), A(7 * 300)] });
  out.push({ name: 'biasAdd', op: { op: 'biasAdd', x: 0, bias: 1, rows: 13, cols: 17 }, buffers: [A(13 * 17), A(17)] });
  out.push({ name: 'relu', op: { op: 'relu', x: 0, y: 1, n: 1000 }, buffers: [A(1000), A(1000)] });
  out.push({ name: 'relu in place', op: { op: 'relu', x: 0, y: 0, n: 1000 }, buffers: [A(1000)] });
  out.push({ name: 'reluBackward', op: { op: 'reluBackward', x: 0, dy: 1, dx: 2, n: 1000 }, buffers: [A(1000), A(1000), A(1000)] });
  out.push({ name: 'gelu', op: { op: 'gelu', x: 0, y: 1, n: 1000 }, buffers: [A(1000, -4, 4), A(1000)] });
  out.push({ name: 'geluBackward', op: { op: 'geluBackward', x: 0, dy: 1, dx: 2, n: 1000 }, buffers: [A(1000, -4, 4), A(1000), A(1000)] });
  out.push({ name: 'softmax', op: { op: 'softmax', x: 0, y: 1, rows: 9, cols: 31 }, buffers: [A(9 * 31, -5, 5), A(9 * 31)] });
  out.push({ name: 'softmaxBackward', op: { op: 'softmaxBackward', y: 0, dy: 1, dx: 2, rows: 9, cols: 31 }, buffers: [A(9 * 31, 0, 0.1), A(9 * 31), A(9 * 31)] });
  for (const causal of [false, true]) {
    const [b, sq, sk, d] = [2, 5, 7, 8];
    out.push({
      name: `attention causal=${causal}`,
      op: { op: 'attention', q: 0, k: 1, v: 2, out: 3, probs: 4, batch: b, seqQ: sq, seqK: sk, dim: d, causal },
      buffers: [A(b * sq * d), A(b * sk * d), A(b * sk * d), A(b * sq * d), A(b * sq * sk)],
    });
    // Backward from the reference forward's probs.
    const bufs = [A(b * sq * d, -2, 2), A(b * sk * d, -2, 2), A(b * sk * d), A(b * sq * d), A(b * sq * sk)];
    referenceOp({ op: 'attention', q: 0, k: 1, v: 2, out: 3, probs: 4, batch: b, seqQ: sq, seqK: sk, dim: d, causal }, bufs);
    out.push({
      name: `attentionBackward causal=${causal}`,
      op: { op: 'attentionBackward', q: 0, k: 1, v: 2, probs: 4, dOut: 5, dQ: 6, dK: 7, dV: 8, batch: b, seqQ: sq, seqK: sk, dim: d },
      buffers: [...bufs, A(b * sq * d), A(b * sq * d), A(b * sk * d), A(b * sk * d)],
    });
  }
  out.push({ name: 'layerNorm', op: { op: 'layerNorm', x: 0, gamma: 1, beta: 2, y: 3, mean: 4, rstd: 5, rows: 6, cols: 10 }, buffers: [A(60, -3, 3), A(10), A(10), A(60), A(6), A(6)] });
  {
    const bufs = [A(60, -3, 3), A(10), A(10), A(60), A(6), A(6)];
    referenceOp({ op: 'layerNorm', x: 0, gamma: 1, beta: 2, y: 3, mean: 4, rstd: 5, rows: 6, cols: 10 }, bufs);
    out.push({
      name: 'layerNormBackward',
      op: { op: 'layerNormBackward', x: 0, gamma: 1, mean: 4, rstd: 5, dy: 6, dx: 7, dGamma: 8, dBeta: 9, rows: 6, cols: 10 },
      buffers: [...bufs, A(60), A(60), A(10), A(10)],
    });
  }
  out.push({ name: 'mseLoss', op: { op: 'mseLoss', pred: 0, target: 1, loss: 2, n: 50 }, buffers: [A(50), A(50), A(1)] });
  out.push({ name: 'mseLossBackward', op: { op: 'mseLossBackward', pred: 0, target: 1, dPred: 2, n: 50 }, buffers: [A(50), A(50), A(50)] });
  const labels = Float32Array.from({ length: 8 }, () => Math.floor(r() * 5));
  out.push({ name: 'softmaxCrossEntropy', op: { op: 'softmaxCrossEntropy', logits: 0, labels: 1, loss: 2, probs: 3, rows: 8, cols: 5 }, buffers: [A(40, -3, 3), labels, A(1), A(40)] });
  out.push({ name: 'softmaxCrossEntropyBackward', op: { op: 'softmaxCrossEntropyBackward', probs: 0, labels: 1, dLogits: 2, rows: 8, cols: 5 }, buffers: [A(40, 0, 0.4), labels, A(40)] });
  out.push({ name: 'sgd', op: { op: 'sgd', param: 0, grad: 1, n: 100, lr: 0.1, weightDecay: 0.01 }, buffers: [A(100), A(100)] });
  out.push({ name: 'adam', op: { op: 'adam', param: 0, grad: 1, m: 2, v: 3, n: 100, step: 3, lr: 0.01, weightDecay: 0.001 }, buffers: [A(100), A(100), A(100, -0.1, 0.1), A(100, 0, 0.01)] });
  for (const accumulate of [false, true]) {
    out.push({ name: `reduceRows accumulate=${accumulate}`, op: { op: 'reduceRows', x: 0, y: 1, rows: 20, cols: 150, accumulate }, buffers: [A(3000), A(150)] });
  }
  out.push({ name: 'copy', op: { op: 'copy', src: 0, dst: 1, n: 30, srcOffset: 5, dstOffset: 2 }, buffers: [A(40), A(40)] });
  out.push({ name: 'copy within a buffer', op: { op: 'copy', src: 0, dst: 0, n: 10, srcOffset: 0, dstOffset: 20 }, buffers: [A(40)] });
  out.push({ name: 'accumulate', op: { op: 'accumulate', src: 0, dst: 1, n: 30, srcOffset: 1, dstOffset: 3, alpha: -0.5 }, buffers: [A(40), A(40)] });
  out.push({ name: 'fill', op: { op: 'fill', dst: 0, n: 25, offset: 7, value: 3.25 }, buffers: [A(40)] });
  return out;
}

describe('engine ops: native CPU vs JS reference', function () {
  this.timeout(30000);
  before(function () {
    const r = loadNative();
    if (!r.ok) throw new Error(r.reason);
  });

  const all = cases();
  it('covers every op', () => {
    const covered = new Set(all.map((c) => c.op.op));
    expect(OP_NAMES.filter((n) => !covered.has(n))).to.deep.equal([]);
  });
  for (const c of all) {
    it(c.name, async () => {
      await checkAgainstReference(c);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Finite differences (float64 reference): L = Σ w ⊙ forward(inputs); compare ∂L/∂input from the
// backward op with (L(x + h) − L(x − h)) / 2h on sampled elements.

type FdCase = {
  readonly name: string;
  /** Fresh float64 buffers. */
  readonly buffers: () => Float64Array[];
  readonly forward: readonly Op[];
  /** Buffer whose weighted sum is L (its weights are `dyBuffer` when given). */
  readonly outBuffer: number;
  /** Buffer holding w = ∂L/∂out that the backward ops read; absent for scalar losses (w = 1). */
  readonly dyBuffer?: number;
  readonly backward: readonly Op[];
  /** [input buffer, gradient buffer] pairs to check. */
  readonly grads: readonly (readonly [number, number])[];
};

function lossOf(c: FdCase, bufs: Float64Array[]): number {
  for (const op of c.forward) referenceOp(op, bufs);
  const out = bufs[c.outBuffer] as Float64Array;
  const w = c.dyBuffer === undefined ? undefined : (bufs[c.dyBuffer] as Float64Array);
  let s = 0;
  for (let i = 0; i < out.length; i++) s += (w ? (w[i] as number) : 1) * (out[i] as number);
  return s;
}

function fdCases(): FdCase[] {
  const r = rng(7);
  const R = (n: number, lo = -1, hi = 1, away = 0): Float64Array =>
    Float64Array.from({ length: n }, () => {
      let v = lo + (hi - lo) * r();
      if (away > 0 && Math.abs(v) < away) v += v < 0 ? -away : away;
      return v;
    });
  const fixed = (make: () => Float64Array[]): (() => Float64Array[]) => {
    const base = make();
    return () => base.map((b) => b.slice());
  };
  const [b, sq, sk, d] = [2, 4, 5, 3];
  return [
    {
      name: 'gemm (dA = dC Bᵀ, dB = Aᵀ dC via the transpose flags)',
      buffers: fixed(() => [R(4 * 3), R(3 * 5), R(4 * 5), R(4 * 5), R(4 * 3), R(3 * 5)]),
      forward: [{ op: 'gemm', a: 0, b: 1, c: 2, m: 4, n: 5, k: 3 }],
      outBuffer: 2,
      dyBuffer: 3,
      backward: [
        { op: 'gemm', a: 3, b: 1, c: 4, m: 4, n: 3, k: 5, transB: true },
        { op: 'gemm', a: 0, b: 3, c: 5, m: 3, n: 5, k: 4, transA: true },
      ],
      grads: [[0, 4], [1, 5]],
    },
    {
      name: 'reluBackward',
      buffers: fixed(() => [R(30, -1, 1, 0.05), R(30), R(30), R(30)]),
      forward: [{ op: 'relu', x: 0, y: 1, n: 30 }],
      outBuffer: 1,
      dyBuffer: 2,
      backward: [{ op: 'reluBackward', x: 0, dy: 2, dx: 3, n: 30 }],
      grads: [[0, 3]],
    },
    {
      name: 'geluBackward',
      buffers: fixed(() => [R(30, -4, 4), R(30), R(30), R(30)]),
      forward: [{ op: 'gelu', x: 0, y: 1, n: 30 }],
      outBuffer: 1,
      dyBuffer: 2,
      backward: [{ op: 'geluBackward', x: 0, dy: 2, dx: 3, n: 30 }],
      grads: [[0, 3]],
    },
    {
      name: 'softmaxBackward',
      buffers: fixed(() => [R(3 * 6, -2, 2), R(3 * 6), R(3 * 6), R(3 * 6)]),
      forward: [{ op: 'softmax', x: 0, y: 1, rows: 3, cols: 6 }],
      outBuffer: 1,
      dyBuffer: 2,
      backward: [{ op: 'softmaxBackward', y: 1, dy: 2, dx: 3, rows: 3, cols: 6 }],
      grads: [[0, 3]],
    },
    ...[false, true].map(
      (causal): FdCase => ({
        name: `attentionBackward causal=${causal}`,
        buffers: fixed(() => [R(b * sq * d), R(b * sk * d), R(b * sk * d), R(b * sq * d), R(b * sq * sk), R(b * sq * d), R(b * sq * d), R(b * sk * d), R(b * sk * d)]),
        forward: [{ op: 'attention', q: 0, k: 1, v: 2, out: 3, probs: 4, batch: b, seqQ: sq, seqK: sk, dim: d, causal }],
        outBuffer: 3,
        dyBuffer: 5,
        backward: [{ op: 'attentionBackward', q: 0, k: 1, v: 2, probs: 4, dOut: 5, dQ: 6, dK: 7, dV: 8, batch: b, seqQ: sq, seqK: sk, dim: d }],
        grads: [[0, 6], [1, 7], [2, 8]],
      }),
    ),
    {
      name: 'layerNormBackward',
      buffers: fixed(() => [R(4 * 7, -2, 2), R(7, 0.5, 1.5), R(7), R(4 * 7), R(4), R(4), R(4 * 7), R(4 * 7), R(7), R(7)]),
      forward: [{ op: 'layerNorm', x: 0, gamma: 1, beta: 2, y: 3, mean: 4, rstd: 5, rows: 4, cols: 7 }],
      outBuffer: 3,
      dyBuffer: 6,
      backward: [{ op: 'layerNormBackward', x: 0, gamma: 1, mean: 4, rstd: 5, dy: 6, dx: 7, dGamma: 8, dBeta: 9, rows: 4, cols: 7 }],
      grads: [[0, 7], [1, 8], [2, 9]],
    },
    {
      name: 'mseLossBackward',
      buffers: fixed(() => [R(12), R(12), R(1), R(12)]),
      forward: [{ op: 'mseLoss', pred: 0, target: 1, loss: 2, n: 12 }],
      outBuffer: 2,
      backward: [{ op: 'mseLossBackward', pred: 0, target: 1, dPred: 3, n: 12 }],
      grads: [[0, 3]],
    },
    {
      name: 'softmaxCrossEntropyBackward',
      buffers: fixed(() => [R(5 * 4, -2, 2), Float64Array.from([0, 3, 1, 1, 2]), R(1), R(5 * 4), R(5 * 4)]),
      forward: [{ op: 'softmaxCrossEntropy', logits: 0, labels: 1, loss: 2, probs: 3, rows: 5, cols: 4 }],
      outBuffer: 2,
      backward: [{ op: 'softmaxCrossEntropyBackward', probs: 3, labels: 1, dLogits: 4, rows: 5, cols: 4 }],
      grads: [[0, 4]],
    },
    {
      name: 'reduceRows (bias gradient of biasAdd)',
      buffers: fixed(() => [R(6 * 4), R(4), R(6 * 4), R(4)]),
      forward: [{ op: 'biasAdd', x: 0, bias: 1, rows: 6, cols: 4 }],
      outBuffer: 0,
      dyBuffer: 2,
      backward: [{ op: 'reduceRows', x: 2, y: 3, rows: 6, cols: 4 }],
      grads: [[1, 3]],
    },
  ];
}

describe('engine ops: backward ops pass a finite-difference check (float64 reference)', () => {
  for (const c of fdCases()) {
    it(c.name, () => {
      const bufs = c.buffers();
      lossOf(c, bufs); // forward fills saved activations (probs, mean, rstd)
      for (const op of c.backward) referenceOp(op, bufs);
      const h = 1e-6;
      for (const [input, grad] of c.grads) {
        const analytic = bufs[grad] as Float64Array;
        const n = (c.buffers()[input] as Float64Array).length;
        for (let i = 0; i < n; i++) {
          const plus = c.buffers();
          (plus[input] as Float64Array)[i] = ((plus[input] as Float64Array)[i] as number) + h;
          const minus = c.buffers();
          (minus[input] as Float64Array)[i] = ((minus[input] as Float64Array)[i] as number) - h;
          const fd = (lossOf(c, plus) - lossOf(c, minus)) / (2 * h);
          const a = analytic[i] as number;
          expect(Math.abs(a - fd), `∂L/∂buffer${input}[${i}]: analytic ${a} vs FD ${fd}`).to.be.at.most(1e-6 * Math.max(1, Math.abs(fd)));
        }
      }
    });
  }

  it('the native backward agrees with the reference backward on the FD cases (float32)', async () => {
    for (const c of fdCases()) {
      const f64 = c.buffers();
      for (const op of c.forward) referenceOp(op, f64);
      const f32 = f64.map((b) => Float32Array.from(b));
      const ref = f32.map((b) => b.slice());
      for (const op of c.backward) referenceOp(op, ref as Vec[]);
      await runGraph({ contexts: [{ id: 0, cores: upToTwoCores() }], tasks: [{ id: 0, context: 0, ops: c.backward, deps: [] }], buffers: f32 });
      for (const [, grad] of c.grads) expectClose(f32[grad] as Float32Array, ref[grad] as Float32Array, `${c.name} grad #${grad}`);
    }
  });
});
