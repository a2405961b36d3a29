/**
 * Compiles one module spec into a program of engine ops (DESIGN §5): the forward of one microbatch,
 * its backward (accumulating into gradient buffers) and the optimizer step.
 *
 * Buffers are numbered locally (0..n-1); the trainer (`train.ts`) instantiates them — parameters,
 * gradients and optimizer state once per replica, activations once per microbatch — and renumbers
 * the ops with {@link remapOp}.
 *
 * **What each architecture becomes** (after scaling, see {@link scaleModule}):
 * - `transformer`: `layers` pre-norm blocks on `micro·tokensPerSample` rows of width `hidden`:
 *   layer norm → per head Q, K, V projections (`hidden → hidden/heads`, K/V shared by the heads of a
 *   group with grouped-query attention) → scaled-dot-product attention (causal if `causal`) → output
 *   projection summed over heads → residual → layer norm → FFN up (`hidden → ffn`) → GELU → FFN down
 *   (`ffn → hidden`) → residual. Biases where `biases` says. A gated FFN (`ffnGated`) has a gate and an
 *   up projection and computes `gelu(x·Wg) + x·Wu` (the engine has no element-wise product; the GEMM
 *   shapes and costs are those of SwiGLU). `rmsnorm` is replayed as layer norm. With `vocab`, an LM head
 *   GEMM (`hidden → vocab`) ends the module and its logits are the output. Token embeddings, patch
 *   convolutions and other `extraTensors` are not replayed (no FLOPs of note).
 * - `mlp`: one linear layer per consecutive pair of `widths` on `micro·tokensPerSample` rows, GELU
 *   between layers (not after the last), biases if `bias`.
 * - `explicit`: a chain of `L = max(1, round(forwardFlopsPerSample / (2·R·C²)))` square GEMMs of width
 *   `C = gemmCols` on `micro·R` rows (`R = gemmRowsPerSample`) with GELU between, so the forward FLOPs and
 *   the output-tile shape match the spec; the chain's parameter count (`L·C²`) need not equal `params`.
 *
 * **Inputs and outputs.** A source module (no `inputs`) reads a `data` buffer of
 * `micro · inputElementsPerSample` elements (its embedded input: patches, tokens), and `input` is
 * undefined. A module with inputs reads `input`, `micro · inputWidth` elements: per sample, the
 * upstream outputs concatenated in `inputs` order (the trainer assembles them). When `inputWidth`
 * differs from what the architecture consumes per sample (`tokens·hidden` or `tokens·widths[0]`), each
 * sample is zero-padded or truncated (copy ops, exact gradients). The declared `outputElementsPerSample`
 * of the spec is not used: the compiled `outputElementsPerSample` is what the ops produce.
 *
 * **Frozen modules** (`trainable: false`) get no gradient buffers and no optimizer ops. Their backward
 * still computes `dInput` when `needsInputGrad` (default: the module has inputs; the trainer passes
 * whether anything upstream trains, as `backwardKinds` in src/perf/kernels.ts decides); when neither
 * holds, `backward` is empty and `dInput` undefined.
 */

import { backwardKinds } from '../perf/kernels';
import { topologicalOrder } from '../spec/check-model';
import type { ModelSpec, ModuleSpec } from '../spec/types';
import { EngineError, OP_SCHEMAS, type Op } from './ops';

/** What a buffer holds; decides how the trainer instantiates it. */
export type BufferKind =
  /** Weights: once per replica, initialised by `init`. */
  | 'param'
  /** Gradient of a param: once per replica, zeroed by the trainer every iteration. */
  | 'grad'
  /** Optimizer state (Adam m, v): once per module (the replica that steps the optimizer). */
  | 'state'
  /** Saved between forward and backward, or passed between modules: once per microbatch. */
  | 'activation'
  /** Input data of a source module, or labels: once per microbatch, filled by the trainer. */
  | 'data'
  /** Temporaries used inside one task's ops only: once per replica. */
  | 'scratch';

export type ProgramBuffer = {
  readonly name: string;
  /** Elements (float32). */
  readonly length: number;
  readonly init: 'zero' | 'random' | 'ones';
  readonly kind: BufferKind;
  /** For `init: 'random'`: values are uniform in [−initScale, initScale]. */
  readonly initScale?: number;
};

export type ModuleProgram = {
  readonly module: string;
  /** Samples per microbatch. */
  readonly micro: number;
  /** Indices used by the ops below (local numbering, 0..n-1). */
  readonly buffers: readonly ProgramBuffer[];
  /** Buffer holding the input activation of one microbatch (undefined for a source module fed by data). */
  readonly input: number | undefined;
  /** For a source module: the buffer the trainer fills with the microbatch's input data. */
  readonly data: number | undefined;
  /** Buffer holding the output activation. */
  readonly output: number;
  /** Gradient w.r.t. output (filled by the downstream module or the loss). */
  readonly dOutput: number;
  /** Gradient w.r.t. input, produced by backward. */
  readonly dInput: number | undefined;
  readonly params: readonly { readonly param: number; readonly grad: number }[];
  /** Parameter buffers of a frozen module (no grads). Trainable modules list theirs in `params`. */
  readonly frozenParams: readonly number[];
  readonly forward: readonly Op[];
  /** Accumulates into the grad buffers (grads are zeroed by the trainer per iteration). */
  readonly backward: readonly Op[];
  /** Adam, for optimizer step 1: use {@link optimizerOpsForStep} for later steps. */
  readonly optimizer: readonly Op[];
  /** FLOPs of one microbatch, counted from the ops (GEMMs 2mnk, attention; element-wise work is not counted). */
  readonly flops: { readonly forward: number; readonly backward: number };
  /** Elements per sample of `input` (or `data` for a source module) and of `output`. */
  readonly inputElementsPerSample: number;
  readonly outputElementsPerSample: number;
  /** The module after scaling (what was compiled). */
  readonly scaled: ModuleSpec;
};

export type CompileOptions = {
  readonly micro: number;
  /** In (0, 1]: see {@link scaleModule}. */
  readonly scale: number;
  /** Elements per sample of the input the trainer provides (the upstream outputs concatenated). */
  readonly inputWidth?: number;
  /** Whether backward must produce dInput. Default: the module has inputs. */
  readonly needsInputGrad?: boolean;
  /** Adam learning rate. Default 1e-3. */
  readonly lr?: number;
};

/**
 * Shrinks a module for a CPU replay: every size — layers, hidden, ffn, heads, kvHeads, tokensPerSample,
 * vocab, every mlp width, gemmRowsPerSample, gemmCols — becomes `max(1, round(size · scale))`. Then
 * the head dimension is `max(1, round(hidden·scale / heads'))` and `hidden' = heads' · headDim'`; kvHeads'
 * is lowered to a divisor of heads'. Explicit modules scale `forwardFlopsPerSample` by scale⁴ (rows,
 * width and chain depth each by `scale`), `params` by scale³ and `activationBytesPerSample` by scale².
 * FLOPs therefore shrink by about scale⁴ (scale³ for mlp). `scale = 1` returns the module unchanged.
 */
export function scaleModule(module: ModuleSpec, scale: number): ModuleSpec {
  if (!(scale > 0 && scale <= 1)) throw new RangeError(`Expected a scale in (0, 1] for module "${module.name}" but received ${scale}`);
  if (scale === 1) return module;
  const s = (x: number): number => Math.max(1, Math.round(x * scale));
  const a = module.arch;
  if (a.type === 'transformer') {
    const heads = Math.min(a.heads, s(a.heads));
    const headDim = Math.max(1, Math.round((a.hidden * scale) / heads));
    let kv = a.kvHeads === undefined ? heads : Math.min(heads, s(a.kvHeads));
    while (heads % kv !== 0) kv--;
    const arch = {
      ...a,
      layers: s(a.layers),
      hidden: heads * headDim,
      ffn: s(a.ffn),
      heads,
      ...(a.kvHeads !== undefined ? { kvHeads: kv } : {}),
      // Whole sequences: each of the sample's sequences shrinks, so the count still divides the tokens.
      tokensPerSample: (a.sequencesPerSample ?? 1) * s(a.tokensPerSample / (a.sequencesPerSample ?? 1)),
      ...(a.vocab !== undefined ? { vocab: s(a.vocab) } : {}),
    };
    return { ...module, arch };
  }
  if (a.type === 'mlp') return { ...module, arch: { ...a, widths: a.widths.map(s), tokensPerSample: s(a.tokensPerSample) } };
  const depth = explicitDepth(a.forwardFlopsPerSample, a.gemmRowsPerSample, a.gemmCols);
  const rows = s(a.gemmRowsPerSample);
  const cols = s(a.gemmCols);
  return {
    ...module,
    arch: {
      ...a,
      gemmRowsPerSample: rows,
      gemmCols: cols,
      forwardFlopsPerSample: 2 * rows * cols * cols * s(depth),
      params: Math.max(1, a.params * scale ** 3),
      activationBytesPerSample: Math.max(1, a.activationBytesPerSample * scale ** 2),
    },
  };
}

function explicitDepth(flops: number, rows: number, cols: number): number {
  return Math.max(1, Math.round(flops / (2 * rows * cols * cols)));
}

/** FLOPs of one op (GEMM 2mnk, attention 4·b·sq·sk·d forward, 8·b·sq·sk·d backward, halved when causal). */
export function opFlops(op: Op): number {
  switch (op.op) {
    case 'gemm':
      return 2 * op.m * op.n * op.k;
    case 'attention':
      return 4 * op.batch * op.seqQ * op.seqK * op.dim * (op.causal ? 0.5 : 1);
    case 'attentionBackward':
      return 8 * op.batch * op.seqQ * op.seqK * op.dim;
    default:
      return 0;
  }
}

/** Buffer fields of an op (from the op schemas). */
export function bufferFields(op: Op): readonly string[] {
  return OP_SCHEMAS[op.op].fields.filter(([, kind]) => kind === 'buffer').map(([f]) => f);
}

/** The op with every buffer index `i` replaced by `map(i)`. */
export function remapOp(op: Op, map: (local: number) => number): Op {
  const out: Record<string, unknown> = { ...op };
  for (const f of bufferFields(op)) out[f] = map(out[f] as number);
  return out as Op;
}

/**
 * Compiles every module of a model at a microbatch size, inputs first: the one compile step of the
 * engine (training and profiling both use it). A module with inputs reads the upstream outputs
 * concatenated (`inputWidth`) and produces an input gradient only when something upstream trains
 * (`backwardKinds` in src/perf/kernels.ts, the rule the performance model uses). `compile` is
 * {@link compileModule} unless a test stands in for it. A module too large to compile is E_BAD_OP.
 */
export function compileModules<P extends { readonly outputElementsPerSample?: number }>(
  model: ModelSpec,
  options: { readonly micro: number; readonly scale: number },
  compile: (module: ModuleSpec, options: CompileOptions) => P,
): Map<string, P> {
  const byName = new Map(model.modules.map((m) => [m.name, m]));
  const kinds = backwardKinds(model);
  const programs = new Map<string, P>();
  for (const name of topologicalOrder(model)) {
    const m = byName.get(name) as ModuleSpec;
    const widths = m.inputs.map((i) => programs.get(i)?.outputElementsPerSample);
    const inputWidth = m.inputs.length > 0 && widths.every((w) => w !== undefined) ? widths.reduce((a, b) => (a as number) + (b as number), 0) : undefined;
    const needsInputGrad = m.inputs.some((i) => kinds.get(i) !== 'none');
    try {
      programs.set(name, compile(m, { micro: options.micro, scale: options.scale, needsInputGrad, ...(inputWidth !== undefined ? { inputWidth } : {}) }));
    } catch (err) {
      if (err instanceof RangeError) throw new EngineError('E_BAD_OP', `cannot compile module "${name}": ${err.message}`);
      throw err;
    }
  }
  return programs;
}

/** The optimizer ops of a program for a 1-based optimizer step. */
export function optimizerOpsForStep(program: ModuleProgram, step: number): Op[] {
  return program.optimizer.map((op) => (op.op === 'adam' ? { ...op, step } : op));
}

type Param = { readonly p: number; readonly g: number | undefined };

class Builder {
  readonly buffers: ProgramBuffer[] = [];
  readonly forward: Op[] = [];
  /** Backward steps, pushed in forward order and emitted in reverse. */
  readonly backSteps: (() => void)[] = [];
  readonly backward: Op[] = [];
  readonly params: { param: number; grad: number }[] = [];
  readonly frozen: number[] = [];

  constructor(readonly trainable: boolean) {}

  buf(name: string, length: number, kind: BufferKind, init: ProgramBuffer['init'] = 'zero', initScale?: number): number {
    if (!(Number.isInteger(length) && length >= 1)) throw new RangeError(`buffer ${name}: length ${length} is not a positive integer`);
    this.buffers.push({ name, length, kind, init, ...(initScale !== undefined ? { initScale } : {}) });
    return this.buffers.length - 1;
  }
  act(name: string, length: number): number {
    return this.buf(name, length, 'activation');
  }
  scratch(name: string, length: number): number {
    return this.buf(name, length, 'scratch');
  }
  param(name: string, length: number, init: ProgramBuffer['init'], initScale?: number): Param {
    const p = this.buf(name, length, 'param', init, initScale);
    if (!this.trainable) {
      this.frozen.push(p);
      return { p, g: undefined };
    }
    const g = this.buf(`${name}.grad`, length, 'grad');
    this.params.push({ param: p, grad: g });
    return { p, g };
  }
  f(...ops: Op[]): void {
    this.forward.push(...ops);
  }
  b(...ops: Op[]): void {
    this.backward.push(...ops);
  }
  onBackward(step: () => void): void {
    this.backSteps.push(step);
  }
}

/**
 * A gradient flowing backward: `into(buffer)` gives the buffer holding dX for activation X.
 * Each layer's backward reads the gradient of its output and writes (or accumulates) the gradient of
 * its input; `grads` maps an activation buffer to its gradient buffer.
 */
type Grads = Map<number, number>;

/** y = x·W (+ b). Backward: dW += xᵀ·dy, db += Σ dy, dx = dy·Wᵀ (if x needs a gradient). */
function linear(bd: Builder, grads: Grads, needs: Set<number>, name: string, x: number, rows: number, inF: number, outF: number, bias: boolean, into?: { y: number; accumulate: boolean }): number {
  const W = bd.param(`${name}.weight`, inF * outF, 'random', 1 / Math.sqrt(inF));
  const B = bias ? bd.param(`${name}.bias`, outF, 'zero') : undefined;
  const y = into?.y ?? bd.act(`${name}.out`, rows * outF);
  bd.f({ op: 'gemm', a: x, b: W.p, c: y, m: rows, n: outF, k: inF, beta: into?.accumulate ? 1 : 0 });
  if (B) bd.f({ op: 'biasAdd', x: y, bias: B.p, rows, cols: outF });
  bd.onBackward(() => {
    const dy = grads.get(y);
    if (dy === undefined) return;
    if (W.g !== undefined) bd.b({ op: 'gemm', a: x, b: dy, c: W.g, m: inF, n: outF, k: rows, transA: true, beta: 1 });
    if (B?.g !== undefined) bd.b({ op: 'reduceRows', x: dy, y: B.g, rows, cols: outF, accumulate: true });
    if (needs.has(x)) {
      const existing = grads.get(x);
      if (existing === undefined) {
        const dx = bd.scratch(`${name}.dx`, rows * inF);
        bd.b({ op: 'gemm', a: dy, b: W.p, c: dx, m: rows, n: inF, k: outF, transB: true });
        grads.set(x, dx);
      } else bd.b({ op: 'gemm', a: dy, b: W.p, c: existing, m: rows, n: inF, k: outF, transB: true, beta: 1 });
    }
  });
  return y;
}

/** Adds dy into the gradient of x (creating it as a copy when x has none yet). */
function addGrad(bd: Builder, grads: Grads, x: number, dy: number, n: number, name: string): void {
  const existing = grads.get(x);
  if (existing === undefined) {
    const dx = bd.scratch(name, n);
    bd.b({ op: 'copy', src: dy, dst: dx, n });
    grads.set(x, dx);
  } else bd.b({ op: 'accumulate', src: dy, dst: existing, n });
}

function gelu(bd: Builder, grads: Grads, needs: Set<number>, name: string, x: number, n: number): number {
  const y = bd.act(`${name}.gelu`, n);
  bd.f({ op: 'gelu', x, y, n });
  bd.onBackward(() => {
    const dy = grads.get(y);
    if (dy === undefined || !needs.has(x)) return;
    const dx = bd.scratch(`${name}.dgelu`, n);
    bd.b({ op: 'geluBackward', x, dy, dx, n });
    addGrad2(bd, grads, x, dx, n);
  });
  return y;
}

/** Like addGrad, but `dx` is a fresh buffer this caller owns, so it can become the gradient itself. */
function addGrad2(bd: Builder, grads: Grads, x: number, dx: number, n: number): void {
  const existing = grads.get(x);
  if (existing === undefined) grads.set(x, dx);
  else bd.b({ op: 'accumulate', src: dx, dst: existing, n });
}

function layerNorm(bd: Builder, grads: Grads, needs: Set<number>, name: string, x: number, rows: number, cols: number): number {
  const gamma = bd.param(`${name}.gamma`, cols, 'ones');
  const beta = bd.param(`${name}.beta`, cols, 'zero');
  const y = bd.act(`${name}.out`, rows * cols);
  const mean = bd.act(`${name}.mean`, rows);
  const rstd = bd.act(`${name}.rstd`, rows);
  bd.f({ op: 'layerNorm', x, gamma: gamma.p, beta: beta.p, y, mean, rstd, rows, cols });
  bd.onBackward(() => {
    const dy = grads.get(y);
    if (dy === undefined) return;
    const trainable = gamma.g !== undefined;
    if (!trainable && !needs.has(x)) return;
    const dx = bd.scratch(`${name}.dx`, rows * cols);
    const dGamma = bd.scratch(`${name}.dgamma`, cols);
    const dBeta = bd.scratch(`${name}.dbeta`, cols);
    bd.b({ op: 'layerNormBackward', x, gamma: gamma.p, mean, rstd, dy, dx, dGamma, dBeta, rows, cols });
    if (gamma.g !== undefined && beta.g !== undefined) {
      bd.b({ op: 'accumulate', src: dGamma, dst: gamma.g, n: cols }, { op: 'accumulate', src: dBeta, dst: beta.g, n: cols });
    }
    if (needs.has(x)) addGrad2(bd, grads, x, dx, rows * cols);
  });
  return y;
}

/** One pre-norm transformer block; returns the block output. */
function transformerBlock(bd: Builder, grads: Grads, needs: Set<number>, l: number, x: number, micro: number, a: Extract<ModuleSpec['arch'], { type: 'transformer' }>): number {
  // Attention runs within each of a sample's sequences (frames, views): `seqs·micro` sequences of T tokens.
  const seqs = a.sequencesPerSample ?? 1;
  const T = a.tokensPerSample / seqs;
  const rows = micro * a.tokensPerSample;
  const h = a.hidden;
  const H = a.heads;
  const d = h / H;
  const KV = a.kvHeads ?? H;
  const group = H / KV;
  const has = (site: string): boolean => (a.biases as readonly string[]).includes(site);
  const p = `L${l}`;
  const h1 = layerNorm(bd, grads, needs, `${p}.ln1`, x, rows, h);
  needs.add(h1);
  const ks: number[] = [];
  const vs: number[] = [];
  for (let g = 0; g < KV; g++) {
    const k = linear(bd, grads, needs, `${p}.k${g}`, h1, rows, h, d, has('k'));
    const v = linear(bd, grads, needs, `${p}.v${g}`, h1, rows, h, d, has('v'));
    needs.add(k);
    needs.add(v);
    ks.push(k);
    vs.push(v);
  }
  // x2 = x + Σ_h attn_h · Wo_h + bo
  const x2 = bd.act(`${p}.resid1`, rows * h);
  bd.f({ op: 'copy', src: x, dst: x2, n: rows * h });
  bd.onBackward(() => {
    // Residual: dx += dx2 (runs after every head's backward, since steps are emitted in reverse).
    const dx2 = grads.get(x2);
    if (dx2 !== undefined && needs.has(x)) addGrad(bd, grads, x, dx2, rows * h, `${p}.dresid1`);
  });
  for (let hh = 0; hh < H; hh++) {
    const q = linear(bd, grads, needs, `${p}.q${hh}`, h1, rows, h, d, has('q'));
    needs.add(q);
    const g = Math.floor(hh / group);
    const k = ks[g] as number;
    const v = vs[g] as number;
    const o = bd.act(`${p}.attn${hh}`, rows * d);
    const probs = bd.act(`${p}.probs${hh}`, micro * seqs * T * T);
    bd.f({ op: 'attention', q, k, v, out: o, probs, batch: micro * seqs, seqQ: T, seqK: T, dim: d, causal: a.causal });
    bd.onBackward(() => {
      const dO = grads.get(o);
      if (dO === undefined) return;
      const dQ = bd.scratch(`${p}.dq${hh}`, rows * d);
      const dK = bd.scratch(`${p}.dk${hh}`, rows * d);
      const dV = bd.scratch(`${p}.dv${hh}`, rows * d);
      bd.b({ op: 'attentionBackward', q, k, v, probs, dOut: dO, dQ, dK, dV, batch: micro * seqs, seqQ: T, seqK: T, dim: d });
      addGrad2(bd, grads, q, dQ, rows * d);
      addGrad2(bd, grads, k, dK, rows * d);
      addGrad2(bd, grads, v, dV, rows * d);
    });
    needs.add(o);
    linear(bd, grads, needs, `${p}.o${hh}`, o, rows, d, h, false, { y: x2, accumulate: true });
  }
  if (has('o')) {
    const bo = bd.param(`${p}.o.bias`, h, 'zero');
    bd.f({ op: 'biasAdd', x: x2, bias: bo.p, rows, cols: h });
    bd.onBackward(() => {
      const dy = grads.get(x2);
      if (dy !== undefined && bo.g !== undefined) bd.b({ op: 'reduceRows', x: dy, y: bo.g, rows, cols: h, accumulate: true });
    });
  }
  needs.add(x2);
  // FFN: x3 = x2 + down(act(up(ln2(x2))))
  const h2 = layerNorm(bd, grads, needs, `${p}.ln2`, x2, rows, h);
  needs.add(h2);
  let act: number;
  if (a.ffnGated) {
    const gate = linear(bd, grads, needs, `${p}.ffn_gate`, h2, rows, h, a.ffn, has('ffn'));
    needs.add(gate);
    const gg = gelu(bd, grads, needs, `${p}.ffn_gate`, gate, rows * a.ffn);
    const up = linear(bd, grads, needs, `${p}.ffn_up`, h2, rows, h, a.ffn, has('ffn'));
    needs.add(up);
    act = bd.act(`${p}.ffn_act`, rows * a.ffn);
    bd.f({ op: 'copy', src: gg, dst: act, n: rows * a.ffn }, { op: 'accumulate', src: up, dst: act, n: rows * a.ffn });
    bd.onBackward(() => {
      const dAct = grads.get(act);
      if (dAct === undefined) return;
      addGrad(bd, grads, up, dAct, rows * a.ffn, `${p}.dup`);
      addGrad(bd, grads, gg, dAct, rows * a.ffn, `${p}.dgg`);
    });
    needs.add(gg);
  } else {
    const up = linear(bd, grads, needs, `${p}.ffn_up`, h2, rows, h, a.ffn, has('ffn'));
    needs.add(up);
    act = gelu(bd, grads, needs, `${p}.ffn_up`, up, rows * a.ffn);
  }
  needs.add(act);
  const x3 = bd.act(`${p}.resid2`, rows * h);
  bd.f({ op: 'copy', src: x2, dst: x3, n: rows * h });
  bd.onBackward(() => {
    const dx3 = grads.get(x3);
    if (dx3 !== undefined) addGrad(bd, grads, x2, dx3, rows * h, `${p}.dresid2`);
  });
  linear(bd, grads, needs, `${p}.ffn_down`, act, rows, a.ffn, h, has('ffn'), { y: x3, accumulate: true });
  return x3;
}

/**
 * Compiles a module into forward, backward and optimizer ops for microbatches of `micro` samples.
 * See the file comment for what each architecture becomes and {@link scaleModule} for `scale`.
 * Throws RangeError on invalid options.
 */
export function compileModule(module: ModuleSpec, options: CompileOptions): ModuleProgram {
  const { micro } = options;
  if (!(Number.isInteger(micro) && micro >= 1)) throw new RangeError(`Expected a positive integer micro-batch for module "${module.name}" but received ${micro}`);
  const scaled = scaleModule(module, options.scale);
  const a = scaled.arch;
  const bd = new Builder(module.trainable);
  const grads: Grads = new Map();
  /** Activations whose gradient backward must produce. */
  const needs = new Set<number>();
  const source = module.inputs.length === 0;
  const needsInputGrad = !source && (options.needsInputGrad ?? true);

  // What the architecture consumes per sample.
  const natural = a.type === 'transformer' ? a.tokensPerSample * a.hidden : a.type === 'mlp' ? a.tokensPerSample * (a.widths[0] as number) : a.gemmRowsPerSample * a.gemmCols;
  const inWidth = source ? natural : options.inputWidth ?? natural;
  if (!(Number.isInteger(inWidth) && inWidth >= 1)) throw new RangeError(`Expected a positive integer inputWidth for module "${module.name}" but received ${inWidth}`);
  const first = bd.buf(source ? 'data' : 'input', micro * inWidth, source ? 'data' : 'activation', source ? 'random' : 'zero', source ? 1 : undefined);
  let x = first;
  if (needsInputGrad) needs.add(first);
  if (inWidth !== natural) {
    // Per sample: zero-pad or truncate to what the architecture consumes.
    const adapted = bd.act('input.adapted', micro * natural);
    const n = Math.min(inWidth, natural);
    if (natural > inWidth) bd.f({ op: 'fill', dst: adapted, n: micro * natural, value: 0 });
    for (let s = 0; s < micro; s++) bd.f({ op: 'copy', src: first, dst: adapted, n, srcOffset: s * inWidth, dstOffset: s * natural });
    bd.onBackward(() => {
      const dA = grads.get(adapted);
      if (dA === undefined || !needs.has(first)) return;
      const dx = bd.scratch('input.adapted.dx', micro * inWidth);
      if (inWidth > natural) bd.b({ op: 'fill', dst: dx, n: micro * inWidth, value: 0 });
      for (let s = 0; s < micro; s++) bd.b({ op: 'copy', src: dA, dst: dx, n, srcOffset: s * natural, dstOffset: s * inWidth });
      grads.set(first, dx);
    });
    if (needs.has(first)) needs.add(adapted);
    x = adapted;
  }
  const markNeeded = (b: number): void => {
    // Everything after a parameterised layer needs a gradient if the module trains; after the input only if dInput is wanted.
    if (module.trainable || needsInputGrad) needs.add(b);
  };
  if (x !== first) markNeeded(x);

  if (a.type === 'transformer') {
    const rows = micro * a.tokensPerSample;
    for (let l = 0; l < a.layers; l++) {
      x = transformerBlock(bd, grads, needs, l, x, micro, a);
      markNeeded(x);
    }
    if (a.vocab !== undefined) {
      x = linear(bd, grads, needs, 'lm_head', x, rows, a.hidden, a.vocab, false);
      markNeeded(x);
    }
  } else if (a.type === 'mlp') {
    const rows = micro * a.tokensPerSample;
    for (let i = 0; i + 1 < a.widths.length; i++) {
      x = linear(bd, grads, needs, `fc${i}`, x, rows, a.widths[i] as number, a.widths[i + 1] as number, a.bias);
      markNeeded(x);
      if (i + 2 < a.widths.length) {
        x = gelu(bd, grads, needs, `fc${i}`, x, rows * (a.widths[i + 1] as number));
        markNeeded(x);
      }
    }
  } else {
    const rows = micro * a.gemmRowsPerSample;
    const C = a.gemmCols;
    const depth = explicitDepth(a.forwardFlopsPerSample, a.gemmRowsPerSample, C);
    for (let i = 0; i < depth; i++) {
      x = linear(bd, grads, needs, `gemm${i}`, x, rows, C, C, false);
      markNeeded(x);
      if (i + 1 < depth) {
        x = gelu(bd, grads, needs, `gemm${i}`, x, rows * C);
        markNeeded(x);
      }
    }
  }
  const output = x;
  const outLength = bd.buffers[output]!.length;
  const hasBackward = module.trainable || needsInputGrad;
  const dOutput = bd.act('output.grad', outLength);
  if (hasBackward) {
    grads.set(output, dOutput);
    for (let i = bd.backSteps.length - 1; i >= 0; i--) bd.backSteps[i]!();
  }
  let dInput: number | undefined;
  if (needsInputGrad) {
    const g = grads.get(first);
    if (g === undefined) throw new Error(`internal: module ${module.name} produced no input gradient`);
    // dInput crosses to another task: make it a per-microbatch activation instead of a scratch buffer.
    bd.buffers[g] = { ...(bd.buffers[g] as ProgramBuffer), name: 'input.grad', kind: 'activation' };
    dInput = g;
  }
  if (!hasBackward) bd.backward.length = 0;

  const lr = options.lr ?? 1e-3;
  const optimizer: Op[] = [];
  for (const { param, grad } of bd.params) {
    const name = bd.buffers[param]!.name;
    const n = bd.buffers[param]!.length;
    const m = bd.buf(`${name}.adam_m`, n, 'state');
    const v = bd.buf(`${name}.adam_v`, n, 'state');
    optimizer.push({ op: 'adam', param, grad, m, v, n, step: 1, lr });
  }
  const sum = (ops: readonly Op[]): number => ops.reduce((s, op) => s + opFlops(op), 0);
  return {
    module: module.name,
    micro,
    buffers: bd.buffers,
    input: source ? undefined : first,
    data: source ? first : undefined,
    output,
    dOutput,
    dInput,
    params: bd.params,
    frozenParams: bd.frozen,
    forward: bd.forward,
    backward: bd.backward,
    optimizer,
    flops: { forward: sum(bd.forward), backward: sum(bd.backward) },
    inputElementsPerSample: inWidth,
    outputElementsPerSample: outLength / micro,
    scaled,
  };
}

/**
 * The model with every module shrunk as `compileModule` would at `scale` (named `<name>-scaled-<scale>`), so
 * that planning, profiling and replaying it agree at scale 1: `mosaic plan --scale` on local-cpu.
 */
export function scaleModel(model: ModelSpec, scale: number): ModelSpec {
  return scale === 1 ? model : { ...model, name: `${model.name}-scaled-${scale}`, modules: model.modules.map((m) => scaleModule(m, scale)) };
}
