import type { ModelSpec, ModuleSpec, Precision } from '../spec/types';

/**
 * The kernels one microbatch of a module launches, with the shapes that decide how much of a GPU each
 * can use. A GEMM offers ceil(M/tile)·ceil(N/tile) output tiles; with fewer tiles than SMs the rest idle.
 */
export type Kernel = {
  readonly name: string;
  readonly flops: number;
  /** Bytes read and written from HBM. */
  readonly bytes: number;
  /** Independent output tiles (thread blocks) at the spec's `gemmTile`; caps the SMs it can use. */
  readonly tiles: number;
  /** Efficiency class: dense GEMMs reach a larger share of peak than attention or element-wise work. */
  readonly kind: 'gemm' | 'attention' | 'elementwise';
  /** A GEMM's shape (output M×N, reduction K): the timing model picks its tile and split-K per SM count. */
  readonly gemm?: { readonly m: number; readonly n: number; readonly k: number };
  /** An attention kernel's shape: independent (sample × sequence × head) rows of `tokens` queries. */
  readonly attention?: { readonly sequences: number; readonly tokens: number; readonly headDim: number; readonly causal: boolean; readonly backward: boolean };
  /** Host launches the kernel stands for (an element-wise entry stands for a layer's norms, adds, activations). */
  readonly launches: number;
};

/** Element-wise launches per transformer layer forward (2 norms, 2 residual adds, activation, bias, reshapes). */
export const ELEMENTWISE_LAUNCHES_PER_LAYER = 10;

export const BYTES_PER_ELEMENT: Readonly<Record<Precision, number>> = { bf16: 2, fp16: 2, fp32: 4 };

export type Gemm = { m: number; n: number; k: number; name: string };

/** One GEMM as a kernel: output M×N, reduction K, `e` bytes per element, tiles counted at `tile`. */
export function gemmKernel(g: Gemm, e: number, tile: number): Kernel {
  return {
    name: g.name,
    flops: 2 * g.m * g.n * g.k,
    bytes: (g.m * g.k + g.k * g.n + g.m * g.n) * e,
    tiles: Math.ceil(g.m / tile) * Math.ceil(g.n / tile),
    kind: 'gemm',
    gemm: { m: g.m, n: g.n, k: g.k },
    launches: 1,
  };
}

/** Forward GEMMs of one microbatch of `micro` samples, plus attention and element-wise traffic. */
function forwardParts(module: ModuleSpec, micro: number, e: number, tile: number): { gemms: Gemm[]; kernels: Kernel[] } {
  const a = module.arch;
  const gemms: Gemm[] = [];
  const kernels: Kernel[] = [];
  if (a.type === 'transformer') {
    const m = micro * a.tokensPerSample;
    const h = a.hidden;
    const headDim = h / a.heads;
    const kvDim = (a.kvHeads ?? a.heads) * headDim;
    const ffnOut = a.ffnGated ? 2 * a.ffn : a.ffn;
    for (let l = 0; l < a.layers; l++) {
      gemms.push({ name: `L${l}.qkv`, m, n: h + 2 * kvDim, k: h });
      gemms.push({ name: `L${l}.o`, m, n: h, k: h });
      gemms.push({ name: `L${l}.ffn_up`, m, n: ffnOut, k: h });
      gemms.push({ name: `L${l}.ffn_down`, m, n: h, k: a.ffn });
      // Attention runs within each sequence: `seqs` of `t` tokens per sample (frames, views, images).
      const seqs = a.sequencesPerSample ?? 1;
      const t = a.tokensPerSample / seqs;
      kernels.push({
        name: `L${l}.attention`,
        flops: 4 * micro * seqs * a.heads * t * t * headDim * (a.causal ? 0.5 : 1),
        bytes: micro * a.tokensPerSample * (h + 2 * kvDim + h) * e,
        tiles: micro * seqs * a.heads * Math.ceil(t / tile),
        kind: 'attention',
        attention: { sequences: micro * seqs * a.heads, tokens: t, headDim, causal: a.causal, backward: false },
        launches: 1,
      });
      kernels.push({ name: `L${l}.elementwise`, flops: 0, bytes: m * (14 * h + 4 * a.ffn) * e, tiles: Infinity, kind: 'elementwise', launches: ELEMENTWISE_LAUNCHES_PER_LAYER });
    }
    if (a.vocab !== undefined) gemms.push({ name: 'lm_head', m, n: a.vocab, k: h });
  } else if (a.type === 'mlp') {
    const m = micro * a.tokensPerSample;
    for (let i = 0; i + 1 < a.widths.length; i++) {
      gemms.push({ name: `fc${i}`, m, n: a.widths[i + 1], k: a.widths[i] });
      kernels.push({ name: `act${i}`, flops: 0, bytes: 2 * m * a.widths[i + 1] * e, tiles: Infinity, kind: 'elementwise', launches: 1 });
    }
  } else {
    const m = micro * a.gemmRowsPerSample;
    const n = a.gemmCols;
    const k = Math.max(1, (a.forwardFlopsPerSample * micro) / (2 * m * n));
    gemms.push({ name: 'body', m, n, k });
    kernels.push({ name: 'activations', flops: 0, bytes: a.activationBytesPerSample * micro, tiles: Infinity, kind: 'elementwise', launches: 1 });
  }
  return { gemms, kernels };
}

export function forwardKernels(module: ModuleSpec, micro: number, precision: Precision, tile: number): Kernel[] {
  const e = BYTES_PER_ELEMENT[precision];
  const { gemms, kernels } = forwardParts(module, micro, e, tile);
  return [...gemms.map((g) => gemmKernel(g, e, tile)), ...kernels];
}

/** Which backward work a module does: full (trainable), input gradients only, or none. */
export type BackwardKind = 'full' | 'inputGradOnly' | 'none';

/**
 * A frozen module still runs backward for its input gradients when something upstream is trainable
 * (LLaVA pre-training freezes the LLM but trains the projector beneath it).
 */
export function backwardKinds(model: ModelSpec): ReadonlyMap<string, BackwardKind> {
  const byName = new Map(model.modules.map((m) => [m.name, m]));
  const memo = new Map<string, boolean>();
  const trainableUpstream = (name: string): boolean => {
    const cached = memo.get(name);
    if (cached !== undefined) return cached;
    const result = byName.get(name)!.inputs.some((i) => byName.get(i)!.trainable || trainableUpstream(i));
    memo.set(name, result);
    return result;
  };
  return new Map(
    model.modules.map((m) => [m.name, m.trainable ? 'full' : trainableUpstream(m.name) ? 'inputGradOnly' : 'none'] as const),
  );
}

/**
 * Backward kernels: data-gradient GEMMs (output M×K) always, weight-gradient GEMMs (output K×N, so
 * many tiles even for a small microbatch) when trainable, and the forward again under checkpointing.
 */
export function backwardKernels(
  module: ModuleSpec,
  kind: BackwardKind,
  micro: number,
  precision: Precision,
  tile: number,
  checkpointing: boolean,
): Kernel[] {
  if (kind === 'none') return [];
  const e = BYTES_PER_ELEMENT[precision];
  const { gemms, kernels } = forwardParts(module, micro, e, tile);
  const out: Kernel[] = [];
  if (checkpointing) out.push(...forwardKernels(module, micro, precision, tile).map((k) => ({ ...k, name: `recompute.${k.name}` })));
  for (const g of gemms) {
    out.push(gemmKernel({ name: `${g.name}.dgrad`, m: g.m, n: g.k, k: g.n }, e, tile));
    if (kind === 'full') out.push(gemmKernel({ name: `${g.name}.wgrad`, m: g.k, n: g.n, k: g.m }, e, tile));
  }
  // Backward of attention and element-wise work: twice the FLOPs and traffic, twice the launches.
  for (const k of kernels) {
    out.push({
      ...k,
      name: `${k.name}.grad`,
      flops: 2 * k.flops,
      bytes: 2 * k.bytes,
      launches: 2 * k.launches,
      ...(k.attention ? { attention: { ...k.attention, backward: true } } : {}),
    });
  }
  return out;
}
