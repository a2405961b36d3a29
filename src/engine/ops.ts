/**
 * Engine ops: the TS types, argument validation (run before anything crosses into native code)
 * and a plain-JS reference implementation of every op, computed in float64.
 *
 * Conventions: every buffer is a flat row-major float32 array addressed by its index in the
 * graph's `buffers` list. Shapes are element counts (`rows`, `cols`, `n`, ...). Labels for the
 * cross-entropy loss are class indices stored as floats.
 */

export type EngineErrorCode =
  | 'E_BAD_OP'
  | 'E_BUFFER_RANGE'
  | 'E_BAD_GRAPH'
  | 'E_CORES'
  | 'E_CYCLE'
  | 'E_BAD_VALUE'
  | 'E_BAD_QUOTA'
  | 'E_PARTITION_INFEASIBLE'
  | 'E_NATIVE_UNAVAILABLE'
  | 'E_CUDA_UNAVAILABLE'
  | 'E_CUDA_NO_KERNELS'
  | 'E_CUDA_PARTITION'
  | 'E_CUDA_DRIVER'
  | 'E_INTERNAL';

const INTERNAL_CODES: ReadonlySet<EngineErrorCode> = new Set<EngineErrorCode>(['E_INTERNAL', 'E_CUDA_DRIVER']);

/** Error thrown by the engine for invalid input (and, with E_INTERNAL, bugs). `code` is stable. */
export class EngineError extends Error {
  readonly code: EngineErrorCode;
  constructor(code: EngineErrorCode, message: string) {
    super(message);
    this.name = 'EngineError';
    this.code = code;
  }
  /** DESIGN §8 exit codes: 1 internal error, 2 usage or invalid input. */
  get exitCode(): number {
    return INTERNAL_CODES.has(this.code) ? 1 : 2;
  }
}

/** Index of a buffer in the graph's `buffers` list. */
export type BufferIndex = number;

export type GemmOp = {
  readonly op: 'gemm';
  readonly a: BufferIndex;
  readonly b: BufferIndex;
  readonly c: BufferIndex;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  /** op(A) = Aᵀ, A stored k x m. Default false. */
  readonly transA?: boolean;
  /** op(B) = Bᵀ, B stored n x k. Default false. */
  readonly transB?: boolean;
  /** Default 1. */
  readonly alpha?: number;
  /** Default 0 (C is overwritten; NaN in C does not propagate). */
  readonly beta?: number;
};
/** x[r, c] += bias[c], in place. */
export type BiasAddOp = { readonly op: 'biasAdd'; readonly x: BufferIndex; readonly bias: BufferIndex; readonly rows: number; readonly cols: number };
export type ReluOp = { readonly op: 'relu'; readonly x: BufferIndex; readonly y: BufferIndex; readonly n: number };
export type ReluBackwardOp = { readonly op: 'reluBackward'; readonly x: BufferIndex; readonly dy: BufferIndex; readonly dx: BufferIndex; readonly n: number };
/** GELU, tanh approximation. */
export type GeluOp = { readonly op: 'gelu'; readonly x: BufferIndex; readonly y: BufferIndex; readonly n: number };
export type GeluBackwardOp = { readonly op: 'geluBackward'; readonly x: BufferIndex; readonly dy: BufferIndex; readonly dx: BufferIndex; readonly n: number };
/** Row-wise softmax. */
export type SoftmaxOp = { readonly op: 'softmax'; readonly x: BufferIndex; readonly y: BufferIndex; readonly rows: number; readonly cols: number };
/** dx = y ⊙ (dy − rowsum(dy ⊙ y)), from the softmax output y. */
export type SoftmaxBackwardOp = { readonly op: 'softmaxBackward'; readonly y: BufferIndex; readonly dy: BufferIndex; readonly dx: BufferIndex; readonly rows: number; readonly cols: number };
/**
 * Batched single-head scaled-dot-product attention: for each batch b,
 * probs = softmax(scale · Q Kᵀ) (seqQ x seqK, causal mask optional), out = probs V.
 * q/out: batch x seqQ x dim, k/v: batch x seqK x dim. probs is saved for the backward.
 */
export type AttentionOp = {
  readonly op: 'attention';
  readonly q: BufferIndex;
  readonly k: BufferIndex;
  readonly v: BufferIndex;
  readonly out: BufferIndex;
  readonly probs: BufferIndex;
  readonly batch: number;
  readonly seqQ: number;
  readonly seqK: number;
  readonly dim: number;
  /** Query i sees keys j ≤ i + seqK − seqQ. Default false. */
  readonly causal?: boolean;
  /** Default 1/√dim. */
  readonly scale?: number;
};
export type AttentionBackwardOp = {
  readonly op: 'attentionBackward';
  readonly q: BufferIndex;
  readonly k: BufferIndex;
  readonly v: BufferIndex;
  readonly probs: BufferIndex;
  readonly dOut: BufferIndex;
  readonly dQ: BufferIndex;
  readonly dK: BufferIndex;
  readonly dV: BufferIndex;
  readonly batch: number;
  readonly seqQ: number;
  readonly seqK: number;
  readonly dim: number;
  /** Must match the forward. Default 1/√dim. */
  readonly scale?: number;
};
/** Row-wise layer norm; saves mean and rstd (1/√(var+eps)) per row. */
export type LayerNormOp = {
  readonly op: 'layerNorm';
  readonly x: BufferIndex;
  readonly gamma: BufferIndex;
  readonly beta: BufferIndex;
  readonly y: BufferIndex;
  readonly mean: BufferIndex;
  readonly rstd: BufferIndex;
  readonly rows: number;
  readonly cols: number;
  /** Default 1e-5. */
  readonly eps?: number;
};
/** dx, and dGamma/dBeta summed over rows (overwritten). */
export type LayerNormBackwardOp = {
  readonly op: 'layerNormBackward';
  readonly x: BufferIndex;
  readonly gamma: BufferIndex;
  readonly mean: BufferIndex;
  readonly rstd: BufferIndex;
  readonly dy: BufferIndex;
  readonly dx: BufferIndex;
  readonly dGamma: BufferIndex;
  readonly dBeta: BufferIndex;
  readonly rows: number;
  readonly cols: number;
};
/** loss[0] = mean((pred − target)²). */
export type MseLossOp = { readonly op: 'mseLoss'; readonly pred: BufferIndex; readonly target: BufferIndex; readonly loss: BufferIndex; readonly n: number };
/** dPred = 2 (pred − target) / n. */
export type MseLossBackwardOp = { readonly op: 'mseLossBackward'; readonly pred: BufferIndex; readonly target: BufferIndex; readonly dPred: BufferIndex; readonly n: number };
/** loss[0] = mean over rows of −log softmax(logits)[label]; probs saved for the backward. */
export type SoftmaxCrossEntropyOp = {
  readonly op: 'softmaxCrossEntropy';
  readonly logits: BufferIndex;
  readonly labels: BufferIndex;
  readonly loss: BufferIndex;
  readonly probs: BufferIndex;
  readonly rows: number;
  readonly cols: number;
};
/** dLogits = (probs − onehot(labels)) / rows. */
export type SoftmaxCrossEntropyBackwardOp = {
  readonly op: 'softmaxCrossEntropyBackward';
  readonly probs: BufferIndex;
  readonly labels: BufferIndex;
  readonly dLogits: BufferIndex;
  readonly rows: number;
  readonly cols: number;
};
/** param −= lr · (grad + weightDecay · param). */
export type SgdOp = { readonly op: 'sgd'; readonly param: BufferIndex; readonly grad: BufferIndex; readonly n: number; readonly lr: number; readonly weightDecay?: number };
/** Adam with bias correction; `step` is 1-based. L2 weight decay is added to the gradient. */
export type AdamOp = {
  readonly op: 'adam';
  readonly param: BufferIndex;
  readonly grad: BufferIndex;
  readonly m: BufferIndex;
  readonly v: BufferIndex;
  readonly n: number;
  readonly step: number;
  readonly lr: number;
  /** Default 0.9. */
  readonly beta1?: number;
  /** Default 0.999. */
  readonly beta2?: number;
  /** Default 1e-8. */
  readonly eps?: number;
  /** Default 0. */
  readonly weightDecay?: number;
};
/** y[c] = Σ_r x[r, c] (or += with accumulate); the bias gradient. */
export type ReduceRowsOp = { readonly op: 'reduceRows'; readonly x: BufferIndex; readonly y: BufferIndex; readonly rows: number; readonly cols: number; readonly accumulate?: boolean };
/** dst[dstOffset + i] = src[srcOffset + i], i < n. Moves data between contexts' buffers. */
export type CopyOp = { readonly op: 'copy'; readonly src: BufferIndex; readonly dst: BufferIndex; readonly n: number; readonly srcOffset?: number; readonly dstOffset?: number };
/** dst[dstOffset + i] += alpha · src[srcOffset + i]. */
export type AccumulateOp = {
  readonly op: 'accumulate';
  readonly src: BufferIndex;
  readonly dst: BufferIndex;
  readonly n: number;
  readonly srcOffset?: number;
  readonly dstOffset?: number;
  readonly alpha?: number;
};
export type FillOp = { readonly op: 'fill'; readonly dst: BufferIndex; readonly n: number; readonly value: number; readonly offset?: number };

export type Op =
  | GemmOp
  | BiasAddOp
  | ReluOp
  | ReluBackwardOp
  | GeluOp
  | GeluBackwardOp
  | SoftmaxOp
  | SoftmaxBackwardOp
  | AttentionOp
  | AttentionBackwardOp
  | LayerNormOp
  | LayerNormBackwardOp
  | MseLossOp
  | MseLossBackwardOp
  | SoftmaxCrossEntropyOp
  | SoftmaxCrossEntropyBackwardOp
  | SgdOp
  | AdamOp
  | ReduceRowsOp
  | CopyOp
  | AccumulateOp
  | FillOp;

export type OpName = Op['op'];

type FieldKind = 'buffer' | 'size' | 'offset' | 'flag' | 'step' | 'number';
type OpSchema = {
  /** Field names in native order: buffers, then integers, then floats. */
  readonly fields: readonly (readonly [string, FieldKind])[];
  readonly defaults: Readonly<Record<string, number | boolean>>;
  /** Outputs may alias same-sized inputs (element- or row-local ops). */
  readonly inPlace: boolean;
};

const B = 'buffer' as const;
const S = 'size' as const;
const O = 'offset' as const;
const F = 'flag' as const;
const N = 'number' as const;
const buffers = (...names: string[]): (readonly [string, FieldKind])[] => names.map((n) => [n, B] as const);

/** Mirrors kOpSchemas in native/src/cpu_ops.cc (same field order). */
export const OP_SCHEMAS: Readonly<Record<OpName, OpSchema>> = {
  gemm: { fields: [...buffers('a', 'b', 'c'), ['m', S], ['n', S], ['k', S], ['transA', F], ['transB', F], ['alpha', N], ['beta', N]], defaults: { transA: false, transB: false, alpha: 1, beta: 0 }, inPlace: false },
  biasAdd: { fields: [...buffers('x', 'bias'), ['rows', S], ['cols', S]], defaults: {}, inPlace: false },
  relu: { fields: [...buffers('x', 'y'), ['n', S]], defaults: {}, inPlace: true },
  reluBackward: { fields: [...buffers('x', 'dy', 'dx'), ['n', S]], defaults: {}, inPlace: true },
  gelu: { fields: [...buffers('x', 'y'), ['n', S]], defaults: {}, inPlace: true },
  geluBackward: { fields: [...buffers('x', 'dy', 'dx'), ['n', S]], defaults: {}, inPlace: true },
  softmax: { fields: [...buffers('x', 'y'), ['rows', S], ['cols', S]], defaults: {}, inPlace: true },
  softmaxBackward: { fields: [...buffers('y', 'dy', 'dx'), ['rows', S], ['cols', S]], defaults: {}, inPlace: true },
  attention: { fields: [...buffers('q', 'k', 'v', 'out', 'probs'), ['batch', S], ['seqQ', S], ['seqK', S], ['dim', S], ['causal', F], ['scale', N]], defaults: { causal: false }, inPlace: false },
  attentionBackward: { fields: [...buffers('q', 'k', 'v', 'probs', 'dOut', 'dQ', 'dK', 'dV'), ['batch', S], ['seqQ', S], ['seqK', S], ['dim', S], ['scale', N]], defaults: {}, inPlace: false },
  layerNorm: { fields: [...buffers('x', 'gamma', 'beta', 'y', 'mean', 'rstd'), ['rows', S], ['cols', S], ['eps', N]], defaults: { eps: 1e-5 }, inPlace: true },
  layerNormBackward: { fields: [...buffers('x', 'gamma', 'mean', 'rstd', 'dy', 'dx', 'dGamma', 'dBeta'), ['rows', S], ['cols', S]], defaults: {}, inPlace: false },
  mseLoss: { fields: [...buffers('pred', 'target', 'loss'), ['n', S]], defaults: {}, inPlace: false },
  mseLossBackward: { fields: [...buffers('pred', 'target', 'dPred'), ['n', S]], defaults: {}, inPlace: false },
  softmaxCrossEntropy: { fields: [...buffers('logits', 'labels', 'loss', 'probs'), ['rows', S], ['cols', S]], defaults: {}, inPlace: false },
  softmaxCrossEntropyBackward: { fields: [...buffers('probs', 'labels', 'dLogits'), ['rows', S], ['cols', S]], defaults: {}, inPlace: false },
  sgd: { fields: [...buffers('param', 'grad'), ['n', S], ['lr', N], ['weightDecay', N]], defaults: { weightDecay: 0 }, inPlace: false },
  adam: { fields: [...buffers('param', 'grad', 'm', 'v'), ['n', S], ['step', 'step'], ['lr', N], ['beta1', N], ['beta2', N], ['eps', N], ['weightDecay', N]], defaults: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 }, inPlace: false },
  reduceRows: { fields: [...buffers('x', 'y'), ['rows', S], ['cols', S], ['accumulate', F]], defaults: { accumulate: false }, inPlace: false },
  copy: { fields: [...buffers('src', 'dst'), ['n', S], ['srcOffset', O], ['dstOffset', O]], defaults: { srcOffset: 0, dstOffset: 0 }, inPlace: false },
  accumulate: { fields: [...buffers('src', 'dst'), ['n', S], ['srcOffset', O], ['dstOffset', O], ['alpha', N]], defaults: { srcOffset: 0, dstOffset: 0, alpha: 1 }, inPlace: false },
  fill: { fields: [...buffers('dst'), ['n', S], ['offset', O], ['value', N]], defaults: { offset: 0 }, inPlace: false },
};

export const OP_NAMES: readonly OpName[] = Object.keys(OP_SCHEMAS) as OpName[];

/** An op with every optional field filled in (what crosses into native code). */
export type NormalizedOp = Readonly<Record<string, number | boolean | string>> & { readonly op: OpName };

type Rec = Record<string, unknown>;

/** One buffer an op touches: how many elements it needs from index 0 and whether it writes it. */
export type BufferNeed = { readonly field: string; readonly index: BufferIndex; readonly elements: number; readonly output: boolean };

/** Fills defaults (attention scale defaults to 1/√dim). Does not validate. */
export function normalizeOp(op: Op): NormalizedOp {
  const schema = OP_SCHEMAS[op.op];
  const out: Record<string, number | boolean | string> = { ...schema.defaults };
  for (const [key, value] of Object.entries(op)) if (value !== undefined) out[key] = value as number | boolean | string;
  if ((op.op === 'attention' || op.op === 'attentionBackward') && out['scale'] === undefined && typeof out['dim'] === 'number') {
    out['scale'] = 1 / Math.sqrt(out['dim']);
  }
  return out as NormalizedOp;
}

/** Buffers an op reads and writes, with the element counts it needs. */
export function bufferNeeds(op: NormalizedOp): BufferNeed[] {
  const g = (k: string): number => op[k] as number;
  const need = (field: string, elements: number, output: boolean): BufferNeed => ({ field, index: g(field), elements, output });
  switch (op.op) {
    case 'gemm':
      return [need('a', g('m') * g('k'), false), need('b', g('k') * g('n'), false), need('c', g('m') * g('n'), true)];
    case 'biasAdd':
      return [need('x', g('rows') * g('cols'), true), need('bias', g('cols'), false)];
    case 'relu':
    case 'gelu':
      return [need('x', g('n'), false), need('y', g('n'), true)];
    case 'reluBackward':
    case 'geluBackward':
      return [need('x', g('n'), false), need('dy', g('n'), false), need('dx', g('n'), true)];
    case 'softmax':
      return [need('x', g('rows') * g('cols'), false), need('y', g('rows') * g('cols'), true)];
    case 'softmaxBackward':
      return [need('y', g('rows') * g('cols'), false), need('dy', g('rows') * g('cols'), false), need('dx', g('rows') * g('cols'), true)];
    case 'attention': {
      const [b, sq, sk, d] = [g('batch'), g('seqQ'), g('seqK'), g('dim')];
      return [need('q', b * sq * d, false), need('k', b * sk * d, false), need('v', b * sk * d, false), need('out', b * sq * d, true), need('probs', b * sq * sk, true)];
    }
    case 'attentionBackward': {
      const [b, sq, sk, d] = [g('batch'), g('seqQ'), g('seqK'), g('dim')];
      return [
        need('q', b * sq * d, false), need('k', b * sk * d, false), need('v', b * sk * d, false), need('probs', b * sq * sk, false),
        need('dOut', b * sq * d, false), need('dQ', b * sq * d, true), need('dK', b * sk * d, true), need('dV', b * sk * d, true),
      ];
    }
    case 'layerNorm': {
      const [r, c] = [g('rows'), g('cols')];
      return [need('x', r * c, false), need('gamma', c, false), need('beta', c, false), need('y', r * c, true), need('mean', r, true), need('rstd', r, true)];
    }
    case 'layerNormBackward': {
      const [r, c] = [g('rows'), g('cols')];
      return [
        need('x', r * c, false), need('gamma', c, false), need('mean', r, false), need('rstd', r, false), need('dy', r * c, false),
        need('dx', r * c, true), need('dGamma', c, true), need('dBeta', c, true),
      ];
    }
    case 'mseLoss':
      return [need('pred', g('n'), false), need('target', g('n'), false), need('loss', 1, true)];
    case 'mseLossBackward':
      return [need('pred', g('n'), false), need('target', g('n'), false), need('dPred', g('n'), true)];
    case 'softmaxCrossEntropy':
      return [need('logits', g('rows') * g('cols'), false), need('labels', g('rows'), false), need('loss', 1, true), need('probs', g('rows') * g('cols'), true)];
    case 'softmaxCrossEntropyBackward':
      return [need('probs', g('rows') * g('cols'), false), need('labels', g('rows'), false), need('dLogits', g('rows') * g('cols'), true)];
    case 'sgd':
      return [need('param', g('n'), true), need('grad', g('n'), false)];
    case 'adam':
      return [need('param', g('n'), true), need('grad', g('n'), false), need('m', g('n'), true), need('v', g('n'), true)];
    case 'reduceRows':
      return [need('x', g('rows') * g('cols'), false), need('y', g('cols'), true)];
    case 'copy':
    case 'accumulate':
      return [need('src', g('srcOffset') + g('n'), false), need('dst', g('dstOffset') + g('n'), true)];
    case 'fill':
      return [need('dst', g('offset') + g('n'), true)];
  }
}

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
  if (name === 'layerNorm' && !(num('eps') > 0)) throw new EngineError('E_BAD_OP', `Expected eps in ${at} to be > 0 but received ${num('eps')}`);
  if (name === 'adam') {
    for (const k of ['beta1', 'beta2']) {
      if (!(num(k) >= 0 && num(k) < 1)) throw new EngineError('E_BAD_OP', `Expected ${k} in ${at} to be in [0, 1) but received ${num(k)}`);
    }
    if (!(num('eps') > 0)) throw new EngineError('E_BAD_OP', `Expected eps in ${at} to be > 0 but received ${num('eps')}`);
  }
  const needs = bufferNeeds(norm);
  for (const nd of needs) {
    const len = bufferLengths[nd.index] as number;
    if (nd.elements > len) {
      throw new EngineError('E_BUFFER_RANGE', `Expected buffer ${nd.field} (#${nd.index}) in ${at} to hold at least ${nd.elements} elements but it holds ${len}`);
    }
  }
  if (name === 'copy' || name === 'accumulate') {
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
      const ok = schema.inPlace && !(a.output && b.output) && a.elements === b.elements;
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
  }
}
