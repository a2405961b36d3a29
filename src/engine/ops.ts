/**
 * Engine ops: argument validation (the one validation layer: it runs before anything crosses into
 * native code, which trusts it) and a plain-JS reference implementation of every op, in float64.
 * The op types and schemas come from the manifest ./ops.json (see ./ops.generated.ts).
 *
 * Conventions: every buffer is a flat row-major float32 array addressed by its index in the
 * graph's `buffers` list. Shapes are element counts (`rows`, `cols`, `n`, ...). Labels for the
 * cross-entropy loss are class indices stored as floats.
 */

import { MosaicError, type ErrorCode } from '../errors';
import { OP_NAMES, OP_SCHEMAS, bufferNeeds, normalizeOp, type BufferNeed, type NormalizedOp, type Op, type OpName } from './ops.generated';

/**
 * Engine errors are {@link MosaicError}s (one base class, one error table in src/errors.ts); the
 * name EngineError stays for readers and the package API. The addon throws the same class.
 */
export const EngineError = MosaicError;
export type EngineError = MosaicError;
export type EngineErrorCode = ErrorCode;

// The op set is written once, in ./ops.json; ./ops.generated.ts (types, schemas, defaults, buffer
// needs) and native/src/ops_generated.h are generated from it by scripts/gen-ops.js.
export * from './ops.generated';

type Rec = Record<string, unknown>;

const MAX_ELEMENTS = 2 ** 40;

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined) return 'nothing';
  if (typeof value === 'object') return value === null ? 'null' : Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

/**
 * Validates one op against the buffer lengths and returns it normalized. Throws EngineError
 * E_BAD_OP (unknown op, bad field, forbidden aliasing) or E_BUFFER_RANGE.
 * `where` names the op in messages, e.g. `task 3 op 1`.
 */
export function validateOp(op: unknown, bufferLengths: readonly number[], where: string): NormalizedOp {
  if (typeof op !== 'object' || op === null) throw new EngineError('E_BAD_OP', `Expected an op object at ${where} but received ${describe(op)}`);
  const name = (op as Rec)['op'];
  if (typeof name !== 'string' || !(name in OP_SCHEMAS)) {
    throw new EngineError('E_BAD_OP', `Expected op at ${where} to be one of ${OP_NAMES.join(', ')} but received ${describe(name)}`);
  }
  const schema = OP_SCHEMAS[name as OpName];
  const at = `${where} (${name})`;
  const known = new Set(['op', ...schema.fields.map(([f]) => f)]);
  for (const key of Object.keys(op as Rec)) {
    if (!known.has(key)) throw new EngineError('E_BAD_OP', `Unexpected field "${key}" in ${at}; expected ${[...known].slice(1).join(', ')}`);
  }
  const norm = normalizeOp(op as Op);
  for (const [field, kind] of schema.fields) {
    const v = norm[field];
    switch (kind) {
      case 'buffer':
        if (!Number.isInteger(v) || (v as number) < 0 || (v as number) >= bufferLengths.length) {
          throw new EngineError('E_BUFFER_RANGE', `Expected ${field} in ${at} to be a buffer index in [0, ${bufferLengths.length}) but received ${describe(v)}`);
        }
        break;
      case 'size':
        if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > MAX_ELEMENTS) {
          throw new EngineError('E_BAD_OP', `Expected ${field} in ${at} to be an integer >= 1 but received ${describe(v)}`);
        }
        break;
      case 'step':
        if (!Number.isInteger(v) || (v as number) < 1) {
          throw new EngineError('E_BAD_OP', `Expected ${field} in ${at} to be an integer >= 1 (1-based optimizer step) but received ${describe(v)}`);
        }
        break;
      case 'offset':
        if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > MAX_ELEMENTS) {
          throw new EngineError('E_BAD_OP', `Expected ${field} in ${at} to be an integer >= 0 but received ${describe(v)}`);
        }
        break;
      case 'flag':
        if (typeof v !== 'boolean') throw new EngineError('E_BAD_OP', `Expected ${field} in ${at} to be a boolean but received ${describe(v)}`);
        break;
      case 'number':
        if (typeof v !== 'number' || !Number.isFinite(v)) {
          throw new EngineError('E_BAD_OP', `Expected ${field} in ${at} to be a finite number but received ${describe(v)}`);
        }
        break;
    }
  }
  const num = (k: string): number => norm[k] as number;
  for (const [field, range] of Object.entries(schema.ranges)) {
    if (!range.test(num(field))) throw new EngineError('E_BAD_OP', `Expected ${field} in ${at} to be ${range.text} but received ${num(field)}`);
  }
  const needs = bufferNeeds(norm);
  for (const nd of needs) {
    const len = bufferLengths[nd.index] as number;
    if (nd.elements > len) {
      throw new EngineError('E_BUFFER_RANGE', `Expected buffer ${nd.field} (#${nd.index}) in ${at} to hold at least ${nd.elements} elements but it holds ${len}`);
    }
  }
  if (schema.inPlace === 'ranges') {
    const [s, d, n] = [num('srcOffset'), num('dstOffset'), num('n')];
    if (num('src') === num('dst') && s !== d && Math.max(s, d) < Math.min(s, d) + n) {
      throw new EngineError('E_BAD_OP', `Expected the source and destination ranges of ${at} not to overlap in buffer #${num('src')}`);
    }
    return norm;
  }
  for (let x = 0; x < needs.length; x++) {
    for (let y = x + 1; y < needs.length; y++) {
      const [a, b] = [needs[x] as BufferNeed, needs[y] as BufferNeed];
      if (a.index !== b.index || (!a.output && !b.output)) continue;
      const ok = schema.inPlace === true && !(a.output && b.output) && a.elements === b.elements;
      if (!ok) throw new EngineError('E_BAD_OP', `Expected buffers ${a.field} and ${b.field} in ${at} to be different but both are #${a.index}`);
    }
  }
  return norm;
}

// ---------------------------------------------------------------------------------------------
// Reference implementation (float64 arithmetic; results stored into the given arrays).

/** A buffer for the reference: Float32Array to mirror native storage, Float64Array for FD checks. */
export type Vec = Float32Array | Float64Array;

function geluRef(x: number): number {
  const c = Math.sqrt(2 / Math.PI);
  return 0.5 * x * (1 + Math.tanh(c * (x + 0.044715 * x * x * x)));
}
function geluGradRef(x: number): number {
  const c = Math.sqrt(2 / Math.PI);
  const t = Math.tanh(c * (x + 0.044715 * x * x * x));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x);
}

function labelOf(labels: Vec, r: number, cols: number): number {
  const l = labels[r] as number;
  if (!Number.isInteger(l) || l < 0 || l >= cols) {
    throw new EngineError('E_BAD_VALUE', `label ${l} in row ${r} is not a class index in [0, ${cols})`);
  }
  return l;
}

/** Runs one op on `bufs` exactly as the native engine does (up to rounding). */
export function referenceOp(op: Op, bufs: readonly Vec[]): void {
  const o = normalizeOp(op);
  const num = (k: string): number => o[k] as number;
  const buf = (k: string): Vec => bufs[num(k)] as Vec;
  switch (o.op) {
    case 'gemm': {
      const [m, n, k, alpha, beta] = [num('m'), num('n'), num('k'), num('alpha'), num('beta')];
      const [A, Bm, C] = [buf('a'), buf('b'), buf('c')];
      const tA = o['transA'] === true;
      const tB = o['transB'] === true;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s += (A[tA ? p * m + i : i * k + p] as number) * (Bm[tB ? j * k + p : p * n + j] as number);
          C[i * n + j] = alpha * s + (beta === 0 ? 0 : beta * (C[i * n + j] as number));
        }
      }
      return;
    }
    case 'biasAdd': {
      const [x, bias, rows, cols] = [buf('x'), buf('bias'), num('rows'), num('cols')];
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) x[r * cols + c] = (x[r * cols + c] as number) + (bias[c] as number);
      return;
    }
    case 'relu': {
      const [x, y] = [buf('x'), buf('y')];
      for (let j = 0; j < num('n'); j++) y[j] = Math.max(0, x[j] as number);
      return;
    }
    case 'reluBackward': {
      const [x, dy, dx] = [buf('x'), buf('dy'), buf('dx')];
      for (let j = 0; j < num('n'); j++) dx[j] = (x[j] as number) > 0 ? (dy[j] as number) : 0;
      return;
    }
    case 'gelu': {
      const [x, y] = [buf('x'), buf('y')];
      for (let j = 0; j < num('n'); j++) y[j] = geluRef(x[j] as number);
      return;
    }
    case 'geluBackward': {
      const [x, dy, dx] = [buf('x'), buf('dy'), buf('dx')];
      for (let j = 0; j < num('n'); j++) dx[j] = (dy[j] as number) * geluGradRef(x[j] as number);
      return;
    }
    case 'softmax': {
      const [x, y, rows, cols] = [buf('x'), buf('y'), num('rows'), num('cols')];
      for (let r = 0; r < rows; r++) {
        let mx = -Infinity;
        for (let c = 0; c < cols; c++) mx = Math.max(mx, x[r * cols + c] as number);
        let sum = 0;
        const e: number[] = [];
        for (let c = 0; c < cols; c++) sum += e[c] = Math.exp((x[r * cols + c] as number) - mx);
        for (let c = 0; c < cols; c++) y[r * cols + c] = (e[c] as number) / sum;
      }
      return;
    }
    case 'softmaxBackward': {
      const [y, dy, dx, rows, cols] = [buf('y'), buf('dy'), buf('dx'), num('rows'), num('cols')];
      for (let r = 0; r < rows; r++) {
        let dot = 0;
        for (let c = 0; c < cols; c++) dot += (y[r * cols + c] as number) * (dy[r * cols + c] as number);
        for (let c = 0; c < cols; c++) dx[r * cols + c] = (y[r * cols + c] as number) * ((dy[r * cols + c] as number) - dot);
      }
      return;
    }
    case 'attention': {
      const [q, k, v, out, probs] = [buf('q'), buf('k'), buf('v'), buf('out'), buf('probs')];
      const [batch, sq, sk, d, scale] = [num('batch'), num('seqQ'), num('seqK'), num('dim'), num('scale')];
      const causal = o['causal'] === true;
      for (let b = 0; b < batch; b++) {
        for (let i = 0; i < sq; i++) {
          const row = b * sq + i;
          const limit = Math.max(0, causal ? Math.min(sk, i + (sk - sq) + 1) : sk);
          const s: number[] = [];
          let mx = -Infinity;
          for (let j = 0; j < limit; j++) {
            let dot = 0;
            for (let t = 0; t < d; t++) dot += (q[row * d + t] as number) * (k[(b * sk + j) * d + t] as number);
            s[j] = dot * scale;
            mx = Math.max(mx, s[j] as number);
          }
          let sum = 0;
          for (let j = 0; j < limit; j++) sum += s[j] = Math.exp((s[j] as number) - mx);
          for (let t = 0; t < d; t++) out[row * d + t] = 0;
          const o2 = new Float64Array(d);
          for (let j = 0; j < sk; j++) {
            const p = j < limit ? (s[j] as number) / sum : 0;
            probs[row * sk + j] = p;
            for (let t = 0; t < d; t++) o2[t] = (o2[t] as number) + p * (v[(b * sk + j) * d + t] as number);
          }
          for (let t = 0; t < d; t++) out[row * d + t] = o2[t] as number;
        }
      }
      return;
    }
    case 'attentionBackward': {
      const [q, k, v, probs, dOut, dQ, dK, dV] = [buf('q'), buf('k'), buf('v'), buf('probs'), buf('dOut'), buf('dQ'), buf('dK'), buf('dV')];
      const [batch, sq, sk, d, scale] = [num('batch'), num('seqQ'), num('seqK'), num('dim'), num('scale')];
      const dS = new Float64Array(batch * sq * sk);
      for (let b = 0; b < batch; b++) {
        for (let i = 0; i < sq; i++) {
          const row = b * sq + i;
          const dp = new Float64Array(sk);
          let c = 0;
          for (let j = 0; j < sk; j++) {
            let dot = 0;
            for (let t = 0; t < d; t++) dot += (dOut[row * d + t] as number) * (v[(b * sk + j) * d + t] as number);
            dp[j] = dot;
            c += (probs[row * sk + j] as number) * dot;
          }
          for (let j = 0; j < sk; j++) dS[row * sk + j] = (probs[row * sk + j] as number) * ((dp[j] as number) - c);
          for (let t = 0; t < d; t++) {
            let acc = 0;
            for (let j = 0; j < sk; j++) acc += (dS[row * sk + j] as number) * (k[(b * sk + j) * d + t] as number);
            dQ[row * d + t] = scale * acc;
          }
        }
        for (let j = 0; j < sk; j++) {
          for (let t = 0; t < d; t++) {
            let ak = 0;
            let av = 0;
            for (let i = 0; i < sq; i++) {
              const row = b * sq + i;
              ak += (dS[row * sk + j] as number) * (q[row * d + t] as number);
              av += (probs[row * sk + j] as number) * (dOut[row * d + t] as number);
            }
            dK[(b * sk + j) * d + t] = scale * ak;
            dV[(b * sk + j) * d + t] = av;
          }
        }
      }
      return;
    }
    case 'layerNorm': {
      const [x, gamma, beta, y, mean, rstd] = [buf('x'), buf('gamma'), buf('beta'), buf('y'), buf('mean'), buf('rstd')];
      const [rows, cols, eps] = [num('rows'), num('cols'), num('eps')];
      for (let r = 0; r < rows; r++) {
        let mu = 0;
        for (let c = 0; c < cols; c++) mu += x[r * cols + c] as number;
        mu /= cols;
        let vr = 0;
        for (let c = 0; c < cols; c++) vr += ((x[r * cols + c] as number) - mu) ** 2;
        vr /= cols;
        const rs = 1 / Math.sqrt(vr + eps);
        const row: number[] = [];
        for (let c = 0; c < cols; c++) row[c] = ((x[r * cols + c] as number) - mu) * rs * (gamma[c] as number) + (beta[c] as number);
        for (let c = 0; c < cols; c++) y[r * cols + c] = row[c] as number;
        mean[r] = mu;
        rstd[r] = rs;
      }
      return;
    }
    case 'layerNormBackward': {
      const [x, gamma, mean, rstd, dy, dx, dGamma, dBeta] = [buf('x'), buf('gamma'), buf('mean'), buf('rstd'), buf('dy'), buf('dx'), buf('dGamma'), buf('dBeta')];
      const [rows, cols] = [num('rows'), num('cols')];
      const xhat = (r: number, c: number): number => ((x[r * cols + c] as number) - (mean[r] as number)) * (rstd[r] as number);
      for (let c = 0; c < cols; c++) {
        let g = 0;
        let bs = 0;
        for (let r = 0; r < rows; r++) {
          g += (dy[r * cols + c] as number) * xhat(r, c);
          bs += dy[r * cols + c] as number;
        }
        dGamma[c] = g;
        dBeta[c] = bs;
      }
      for (let r = 0; r < rows; r++) {
        let a = 0;
        let bb = 0;
        for (let c = 0; c < cols; c++) {
          const g = (dy[r * cols + c] as number) * (gamma[c] as number);
          a += g;
          bb += g * xhat(r, c);
        }
        a /= cols;
        bb /= cols;
        for (let c = 0; c < cols; c++) {
          const g = (dy[r * cols + c] as number) * (gamma[c] as number);
          dx[r * cols + c] = (rstd[r] as number) * (g - a - xhat(r, c) * bb);
        }
      }
      return;
    }
    case 'mseLoss': {
      const [p, t, n] = [buf('pred'), buf('target'), num('n')];
      let s = 0;
      for (let j = 0; j < n; j++) s += ((p[j] as number) - (t[j] as number)) ** 2;
      buf('loss')[0] = s / n;
      return;
    }
    case 'mseLossBackward': {
      const [p, t, d, n] = [buf('pred'), buf('target'), buf('dPred'), num('n')];
      for (let j = 0; j < n; j++) d[j] = (2 / n) * ((p[j] as number) - (t[j] as number));
      return;
    }
    case 'softmaxCrossEntropy': {
      const [x, labels, probs, rows, cols] = [buf('logits'), buf('labels'), buf('probs'), num('rows'), num('cols')];
      for (let r = 0; r < rows; r++) labelOf(labels, r, cols);
      let total = 0;
      for (let r = 0; r < rows; r++) {
        let mx = -Infinity;
        for (let c = 0; c < cols; c++) mx = Math.max(mx, x[r * cols + c] as number);
        let sum = 0;
        for (let c = 0; c < cols; c++) sum += Math.exp((x[r * cols + c] as number) - mx);
        const lse = Math.log(sum);
        for (let c = 0; c < cols; c++) probs[r * cols + c] = Math.exp((x[r * cols + c] as number) - mx - lse);
        total += lse - ((x[r * cols + labelOf(labels, r, cols)] as number) - mx);
      }
      buf('loss')[0] = total / rows;
      return;
    }
    case 'softmaxCrossEntropyBackward': {
      const [probs, labels, d, rows, cols] = [buf('probs'), buf('labels'), buf('dLogits'), num('rows'), num('cols')];
      for (let r = 0; r < rows; r++) labelOf(labels, r, cols);
      for (let r = 0; r < rows; r++) {
        const l = labelOf(labels, r, cols);
        for (let c = 0; c < cols; c++) d[r * cols + c] = ((probs[r * cols + c] as number) - (c === l ? 1 : 0)) / rows;
      }
      return;
    }
    case 'sgd': {
      const [p, g, lr, wd] = [buf('param'), buf('grad'), num('lr'), num('weightDecay')];
      for (let j = 0; j < num('n'); j++) p[j] = (p[j] as number) - lr * ((g[j] as number) + wd * (p[j] as number));
      return;
    }
    case 'adam': {
      const [p, g, m, v] = [buf('param'), buf('grad'), buf('m'), buf('v')];
      const [lr, b1, b2, eps, wd, t] = [num('lr'), num('beta1'), num('beta2'), num('eps'), num('weightDecay'), num('step')];
      const c1 = 1 - b1 ** t;
      const c2 = 1 - b2 ** t;
      for (let j = 0; j < num('n'); j++) {
        const gj = (g[j] as number) + wd * (p[j] as number);
        const mj = b1 * (m[j] as number) + (1 - b1) * gj;
        const vj = b2 * (v[j] as number) + (1 - b2) * gj * gj;
        m[j] = mj;
        v[j] = vj;
        p[j] = (p[j] as number) - (lr * (mj / c1)) / (Math.sqrt(vj / c2) + eps);
      }
      return;
    }
    case 'reduceRows': {
      const [x, y, rows, cols] = [buf('x'), buf('y'), num('rows'), num('cols')];
      for (let c = 0; c < cols; c++) {
        let s = 0;
        for (let r = 0; r < rows; r++) s += x[r * cols + c] as number;
        y[c] = o['accumulate'] === true ? (y[c] as number) + s : s;
      }
      return;
    }
    case 'copy': {
      const [src, dst, n, so, d0] = [buf('src'), buf('dst'), num('n'), num('srcOffset'), num('dstOffset')];
      dst.set(src.subarray(so, so + n), d0);
      return;
    }
    case 'accumulate': {
      const [src, dst, n, so, d0, alpha] = [buf('src'), buf('dst'), num('n'), num('srcOffset'), num('dstOffset'), num('alpha')];
      for (let j = 0; j < n; j++) dst[d0 + j] = (dst[d0 + j] as number) + alpha * (src[so + j] as number);
      return;
    }
    case 'fill': {
      buf('dst').fill(num('value'), num('offset'), num('offset') + num('n'));
      return;
    }
    default: {
      // An op in the manifest without a reference here fails to compile (o.op is not `never`) and, if
      // forced through, loudly at run time.
      const missing: never = o.op;
      throw new EngineError('E_INTERNAL', `no reference implementation for op ${String(missing)}`);
    }
  }
}
