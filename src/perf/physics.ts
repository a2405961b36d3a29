import type { ClusterSpec, GpuPhysicsOverrides, GpuSpec } from '../spec/types';

/**
 * The GPU effects that decide whether colocation pays, one entry per architecture (docs/physics.md has
 * the derivations). Every number is a measurement or a published figure, named in `sources`; a
 * cluster spec may override any of them (`gpu.physics`), and `mosaic calibrate --sweep` fits them to a
 * GPU sweep (`scripts/gpu-sweep.py`).
 */
export type GpuPhysics = {
  readonly architecture: Architecture;
  /**
   * Output tile shapes [rows, cols] the GEMM library chooses among (empty: the spec's `gemmTile` square), with each tile's per-SM efficiency
   * relative to the largest (smaller tiles reuse less data per FLOP). The model picks, per GEMM and SM
   * count, the tile (and split-K) with the least time, as cuBLAS's heuristics do.
   */
  readonly gemmTiles: readonly { readonly rows: number; readonly cols: number; readonly relativeEfficiency: number }[];
  /** Share of per-SM peak a large-tile GEMM reaches with every SM of the GPU busy (power- and clock-limited). */
  readonly gemmEfficiencyAllSms: number;
  /** The same with few SMs busy: clocks have headroom, so a small partition runs faster per SM. */
  readonly gemmEfficiencyFewSms: number;
  /** Attention forward at head dim ≥ 128 and long sequences, share of peak, all SMs busy. */
  readonly attentionEfficiency: number;
  /** Attention backward efficiency relative to forward. */
  readonly attentionBackwardRatio: number;
  /** Achieved HBM bandwidth (device copy, bytes read + written) as a share of the datasheet figure. */
  readonly achievedBandwidthFraction: number;
  /** Share of the SMs at which the achieved bandwidth reaches 90% of its maximum. */
  readonly bandwidthSaturationFraction: number;
  /**
   * Host time per modelled kernel launch in eager PyTorch training: the GPU slot idles while the host
   * issues work, and a neighbour can use that time. A module's time is the larger of its device time
   * and its launches × this gap.
   */
  readonly hostGapUs: number;
  /** Device time every launch costs beyond its work (ramp-up, tail, the epilogue's last writes). */
  readonly kernelOverheadUs: number;
  /**
   * Co-running slowdown per unit of neighbour pressure: a task runs 1 + γ·Σ pressure slower, where a
   * neighbour's pressure is the larger of its compute use (SM share × achieved/peak) and its share of
   * the achieved bandwidth. Separately, memory-bound time stretches by the total bandwidth demand when
   * it exceeds what HBM gives.
   */
  readonly interferenceGamma: number;
  /**
   * Share of a slot's SMs a gradient collective (NCCL's all-reduce kernels) holds while it overlaps the
   * backward: the overlapped part of that backward runs on the rest (src/perf/simulate.ts).
   */
  readonly collectiveSmFraction: number;
  readonly sources: readonly string[];
};

export type Architecture = 'hopper' | 'ampere' | 'cpu' | 'generic';

const MEASURED_H200 =
  'Measured 2026-11-27 on one NVIDIA H200 (132 SMs, driver 580.159.04, PyTorch 2.11.0+cu130) with scripts/gpu-sweep.py in green contexts: datasets/profiles/h200-2026-11-27/';

/** One table, one row per architecture; an architecture without a row fails loudly in physicsFor. */
export const PHYSICS: Readonly<Record<Architecture, GpuPhysics>> = {
  hopper: {
    architecture: 'hopper',
    gemmTiles: [
      { rows: 128, cols: 256, relativeEfficiency: 1 },
      { rows: 256, cols: 128, relativeEfficiency: 1 },
      { rows: 128, cols: 128, relativeEfficiency: 0.8 },
      { rows: 64, cols: 128, relativeEfficiency: 0.55 },
    ],
    gemmEfficiencyAllSms: 0.8,
    gemmEfficiencyFewSms: 0.94,
    attentionEfficiency: 0.62,
    attentionBackwardRatio: 0.82,
    achievedBandwidthFraction: 0.88,
    bandwidthSaturationFraction: 0.6,
    hostGapUs: 57,
    kernelOverheadUs: 4,
    interferenceGamma: 0.45,
    collectiveSmFraction: 0.15,
    sources: [
      'NVIDIA/nccl#1432: an NCCL kernel alone keeps about 15% of an H100\'s SMs busy; overlapped, the compute kernel gets about 85% (not measured here: the GPU sweep has no collective, it needs two GPUs)',
      `${MEASURED_H200}: bf16 8192³ GEMM 790 TFLOP/s on 132 SMs (0.80 of 989), 56 TFLOP/s on 8 SMs (0.93 per SM); 2048³ GEMM time flat from 64 to 112 SMs and halved at 128 (two waves of 128 tiles of 128×256 → one); its one wave takes 28 µs against 22.4 µs of tile work (≈ 4 µs per launch); a tiny kernel replayed from a CUDA graph 0.85 µs`,
      `${MEASURED_H200}: SDPA attention forward 0.58–0.66 of peak at head dim 128 (0.28 at 256 tokens, head dim 64), backward 0.79–0.84 of forward`,
      `${MEASURED_H200}: device copy 4219 GB/s (0.88 of 4800), 90% of it at 80 of 132 SMs; H100: copy ≈ 3.0 of 3.35 TB/s (this workplace's KINDS.md)`,
      `${MEASURED_H200}: eager tiny op 7.9 µs back-to-back, 0.85 µs from a CUDA graph; ViT-B layer training step 2.81 ms eager vs 0.43 ms as a CUDA graph (host-bound) = 57 µs per modelled launch (49 per layer step)`,
      `${MEASURED_H200}: co-running on 64+64 SMs: GEMM|GEMM 1.21×, GEMM|copy 1.37×, copy|GEMM 1.17×, copy|copy 1.62×; ViT-L, 7B-LLM and ViT-B layer steps 1.05–1.18× — γ = 0.45 fits them within 8% except copy|copy (+5%)`,
      'NVIDIA Matrix Multiplication Background User Guide, "Wave quantization"; Hopper whitepaper (CTA tiles); pytorch/pytorch#143988 (persistent kernels vs a smaller SM budget)',
    ],
  },
  ampere: {
    architecture: 'ampere',
    gemmTiles: [
      { rows: 256, cols: 128, relativeEfficiency: 1 },
      { rows: 128, cols: 256, relativeEfficiency: 1 },
      { rows: 128, cols: 128, relativeEfficiency: 0.85 },
      { rows: 128, cols: 64, relativeEfficiency: 0.7 },
      { rows: 64, cols: 64, relativeEfficiency: 0.5 },
    ],
    gemmEfficiencyAllSms: 0.8,
    gemmEfficiencyFewSms: 0.9,
    attentionEfficiency: 0.6,
    attentionBackwardRatio: 0.75,
    achievedBandwidthFraction: 0.9,
    bandwidthSaturationFraction: 0.5,
    hostGapUs: 57,
    kernelOverheadUs: 4,
    interferenceGamma: 0.45,
    collectiveSmFraction: 0.15,
    sources: [
      'NVIDIA/nccl#1432 (H100): a collective holds about 15% of the SMs; assumed the same share on A100',
      'FlashAttention-2 (arXiv 2307.08691): forward 50–73% of A100 peak, "close to the efficiency of GEMM"; backward lower',
      'RRZE-HPC/gpu-benches gpu-stream: A100-80GB copy reaches 90% of its bandwidth at about 50% occupancy',
      'Not measured here: GEMM efficiency, clock headroom, host gap and γ are the H200 figures, an assumption for A100',
    ],
  },
  cpu: {
    architecture: 'cpu',
    gemmTiles: [],
    gemmEfficiencyAllSms: 0.7,
    gemmEfficiencyFewSms: 0.7,
    attentionEfficiency: 0.5,
    attentionBackwardRatio: 1,
    achievedBandwidthFraction: 1,
    bandwidthSaturationFraction: 0.5,
    hostGapUs: 4,
    kernelOverheadUs: 0,
    interferenceGamma: 0.3,
    collectiveSmFraction: 0,
    sources: ['CPU backend: analytic placeholders; `mosaic profile` measures the real curves and `mosaic calibrate` fits γ'],
  },
  generic: {
    architecture: 'generic',
    gemmTiles: [],
    gemmEfficiencyAllSms: 0.7,
    gemmEfficiencyFewSms: 0.7,
    attentionEfficiency: 0.5,
    attentionBackwardRatio: 0.8,
    achievedBandwidthFraction: 0.85,
    bandwidthSaturationFraction: 0.5,
    hostGapUs: 57,
    kernelOverheadUs: 4,
    interferenceGamma: 0.45,
    collectiveSmFraction: 0.15,
    sources: ['An unknown GPU: conservative assumptions, not measurements; set gpu.architecture or gpu.physics in the cluster spec'],
  },
};

/** Which row a GPU uses: its spec's `architecture`, else its name, else `generic` (said in the notes). */
export function architectureOf(cluster: ClusterSpec): Architecture {
  if (cluster.device === 'cpu') return 'cpu';
  const g = cluster.gpu;
  if (g.architecture) return g.architecture;
  if (/\b(GH|H)(100|200|800|20)\b|H100|H200|H800|GH200/i.test(g.name)) return 'hopper';
  if (/A100|A800|A30\b/i.test(g.name)) return 'ampere';
  return 'generic';
}

/** The physics of a cluster's GPU: its architecture's row with the spec's overrides applied. */
export function physicsFor(cluster: ClusterSpec): GpuPhysics {
  const arch = architectureOf(cluster);
  const row = PHYSICS[arch];
  if (!row) throw new Error(`no physics row for architecture "${String(arch)}"`);
  const o: GpuPhysicsOverrides = cluster.gpu.physics ?? {};
  return { ...row, ...o, sources: o.source ? [o.source, ...row.sources] : row.sources } as GpuPhysics;
}

/** Per-SM throughput multiplier with `busyFraction` of the GPU's SMs busy (clock headroom when few are). */
export function clockEfficiency(p: GpuPhysics, busyFraction: number): number {
  const f = Math.min(1, Math.max(0, busyFraction));
  return p.gemmEfficiencyFewSms - (p.gemmEfficiencyFewSms - p.gemmEfficiencyAllSms) * f;
}

/**
 * Achieved HBM bandwidth (GB/s) on `sms` SMs: a smooth minimum of what the SMs can issue and what HBM
 * gives, `(x⁻³ + B⁻³)^(-1/3)` with x = per-SM rate × SMs. The per-SM rate is set so that the curve
 * reaches 90% of B at the saturation fraction: (1.391⁻³ + 1)^(-1/3) = 0.9. On the H200 sweep this
 * curve is within 8% of the measured copy bandwidth at every SM count from 8 to 132.
 */
export function achievedBandwidthGBps(gpu: GpuSpec, p: GpuPhysics, sms: number): number {
  const B = gpu.hbmGBps * p.achievedBandwidthFraction;
  const perSm = (1.391 * B) / Math.max(1e-9, p.bandwidthSaturationFraction * gpu.smCount);
  const x = Math.max(1e-9, perSm * sms);
  return Math.pow(Math.pow(x, -3) + Math.pow(B, -3), -1 / 3);
}

/** FlashAttention's split-KV choice (Dao-AILab/flash-attention, flash_api.cpp, num_splits_heuristic). */
export function flashSplits(blocks: number, sms: number, kvBlocks: number, maxSplits = 128): number {
  if (blocks >= 0.8 * sms) return 1;
  const most = Math.min(maxSplits, sms, kvBlocks);
  const ceilDiv = (a: number, b: number) => Math.ceil(a / b);
  const eligible = (s: number) => s === 1 || ceilDiv(kvBlocks, s) !== ceilDiv(kvBlocks, s - 1);
  const eff: number[] = [];
  let best = 0;
  for (let s = 1; s <= most; s++) {
    if (!eligible(s)) {
      eff.push(0);
      continue;
    }
    const waves = (blocks * s) / sms;
    const e = waves / Math.ceil(waves);
    eff.push(e);
    best = Math.max(best, e);
  }
  for (let s = 1; s <= most; s++) if (eligible(s) && eff[s - 1]! >= 0.85 * best) return s;
  return 1;
}
