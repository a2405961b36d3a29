import type { ClusterSpec, GpuSpec } from '../spec/types';
import type { Kernel } from './kernels';
import { achievedBandwidthGBps, clockEfficiency, flashSplits, physicsFor, type GpuPhysics } from './physics';

/** Time of one microbatch of a module at a quota (fraction of the device's SMs). */
export type Curve = (quotaFraction: number) => number;

/**
 * The three-parameter curve that calibration fits: a fixed overhead plus work that speeds up with the
 * quota until the module's kernels run out of tiles at `saturationFraction`.
 *   t(q) = overheadMs + workMs / min(q, saturationFraction)
 */
export type CurveParams = { readonly overheadMs: number; readonly workMs: number; readonly saturationFraction: number };

export function curveTime(p: CurveParams, quotaFraction: number): number {
  return p.overheadMs + p.workMs / Math.min(quotaFraction, p.saturationFraction);
}

/**
 * Device time of one kernel on `sms` SMs with the GPU's physics (src/perf/physics.ts):
 * - GEMM: for each tile shape of the library and each split-K, the output tiles run in
 *   ⌈tiles·splits / sms⌉ waves of one tile's work each (NVIDIA's wave quantization); the fastest choice
 *   wins, as cuBLAS's heuristics pick. Split-K writes fp32 partials that are read back to reduce.
 * - Attention: (sample × sequence × head) rows of 128-query tiles in waves, FlashAttention's split-KV
 *   when they do not fill the SMs; efficiency falls with short sequences and head dims below 128.
 * - Element-wise: memory traffic at the bandwidth the SMs reach.
 * Every kernel is at least as slow as its traffic at that bandwidth. The SMs of a partition run at the
 * clock their GPU allows with `busyFraction` of its SMs active (alone: the partition's own share).
 */
export function kernelDeviceMs(k: Kernel, gpu: GpuSpec, p: GpuPhysics, sms: number, busyFraction: number): { ms: number; memoryBound: boolean } {
  const s = Math.max(1, sms);
  const perSmFlopsPerMs = (gpu.peakTflops * 1e9) / gpu.smCount;
  const clock = clockEfficiency(p, busyFraction);
  const bytesPerMs = achievedBandwidthGBps(gpu, p, s) * 1e6;
  const memoryMs = k.bytes / bytesPerMs;
  let computeMs = 0;
  if (k.flops > 0) {
    if (k.kind === 'gemm' && k.gemm) computeMs = gemmComputeMs(k.gemm, gpu, p, s, perSmFlopsPerMs * clock, bytesPerMs);
    else if (k.kind === 'attention' && k.attention) computeMs = attentionComputeMs(k, k.attention, p, s, perSmFlopsPerMs * clock);
    else {
      // A kernel known only by its FLOPs: spread over the SMs it has tiles for, at the GEMM efficiency.
      const usable = Math.max(1, Math.min(s, k.tiles));
      computeMs = k.flops / (perSmFlopsPerMs * clock * usable);
    }
  }
  return { ms: Math.max(computeMs, memoryMs) + (k.launches * p.kernelOverheadUs) / 1000, memoryBound: memoryMs >= computeMs };
}

function gemmTiles(gpu: GpuSpec, p: GpuPhysics): GpuPhysics['gemmTiles'] {
  return p.gemmTiles.length > 0 ? p.gemmTiles : [{ rows: gpu.gemmTile, cols: gpu.gemmTile, relativeEfficiency: 1 }];
}

/** Splits of K tried when the tiles do not fill the SMs: K is cut into pieces of at least this many. */
const MIN_SPLIT_K = 256;

function gemmComputeMs(g: { m: number; n: number; k: number }, gpu: GpuSpec, p: GpuPhysics, sms: number, perSmFlopsPerMs: number, bytesPerMs: number): number {
  let best = Infinity;
  for (const t of gemmTiles(gpu, p)) {
    const tiles = Math.ceil(g.m / t.rows) * Math.ceil(g.n / t.cols);
    const maxSplits = tiles >= sms ? 1 : Math.max(1, Math.min(Math.floor(sms / tiles), Math.floor(g.k / MIN_SPLIT_K)));
    for (let split = 1; split <= maxSplits; split++) {
      const waves = Math.ceil((tiles * split) / sms);
      const tileMs = (2 * t.rows * t.cols * (g.k / split)) / (perSmFlopsPerMs * t.relativeEfficiency);
      // Split-K: each split writes an fp32 partial of the output, read back once to reduce.
      const reduceMs = split > 1 ? (2 * split * g.m * g.n * 4) / bytesPerMs : 0;
      best = Math.min(best, waves * tileMs + reduceMs);
    }
  }
  return best;
}

/** Query rows per attention tile (FlashAttention-2/3 use 128 on Ampere and Hopper). */
const ATTENTION_TILE = 128;

function attentionComputeMs(k: Kernel, a: NonNullable<Kernel['attention']>, p: GpuPhysics, sms: number, perSmFlopsPerMs: number): number {
  const mBlocks = Math.ceil(a.tokens / ATTENTION_TILE);
  const blocks = a.sequences * mBlocks;
  const splits = a.backward ? 1 : flashSplits(blocks, sms, mBlocks);
  const waves = Math.ceil((blocks * splits) / sms);
  // Efficiency: the measured forward share at head dim 128 and long sequences, lower for short sequences
  // (fixed per-tile prologue/epilogue) and small head dims (less work per byte loaded).
  const shape = Math.sqrt(Math.min(1, a.headDim / 128)) * (a.tokens / (a.tokens + 256));
  const eff = (p.attentionEfficiency / p.gemmEfficiencyAllSms) * shape * (a.backward ? p.attentionBackwardRatio : 1);
  const perBlockFlops = k.flops / (blocks * splits);
  return (waves * perBlockFlops) / (perSmFlopsPerMs * eff);
}

/** What a list of kernels costs a slot at a quota: time, device time and how much of it is memory-bound. */
export type KernelsLoad = {
  /** Slot time: the larger of device time and the host's launches (eager PyTorch). */
  readonly ms: number;
  readonly deviceMs: number;
  readonly memoryBoundMs: number;
  readonly flops: number;
  readonly bytes: number;
};

export function kernelsLoad(kernels: readonly Kernel[], cluster: ClusterSpec, quotaFraction: number, busyFraction = quotaFraction): KernelsLoad {
  const gpu = cluster.gpu;
  const p = physicsFor(cluster);
  const sms = Math.max(1, Math.round(quotaFraction * gpu.smCount));
  let deviceMs = 0;
  let memoryBoundMs = 0;
  let launches = 0;
  let flops = 0;
  let bytes = 0;
  for (const k of kernels) {
    const t = kernelDeviceMs(k, gpu, p, sms, busyFraction);
    deviceMs += t.ms;
    if (t.memoryBound) memoryBoundMs += t.ms;
    launches += k.launches;
    flops += k.flops;
    bytes += k.bytes;
  }
  // The host issues launches asynchronously, so it runs ahead of the GPU: the slot takes the longer of
  // the two, and the difference is idle time a neighbour can use.
  const hostMs = (launches * p.hostGapUs) / 1000;
  return { ms: Math.max(deviceMs, hostMs), deviceMs, memoryBoundMs, flops, bytes };
}

/** Time of a list of kernels at a quota (ms): the slot time of kernelsLoad. */
export function kernelsTimeMs(kernels: readonly Kernel[], cluster: ClusterSpec, quotaFraction: number): number {
  return kernelsLoad(kernels, cluster, quotaFraction).ms;
}

/** What a load means to its neighbours (the interference model's inputs), read off one kernelsLoad. */
export type LoadShares = {
  /** Share of the GPU's achieved HBM bandwidth drawn while running alone. */
  readonly bandwidthShare: number;
  /** The larger of compute use (SM share × achieved FLOPs / peak of those SMs) and bandwidthShare. */
  readonly pressure: number;
  /** Share of the slot time that is memory-bound device time (what bandwidth contention stretches). */
  readonly memoryFraction: number;
};

export function loadShares(load: KernelsLoad, cluster: ClusterSpec): LoadShares {
  if (load.ms === 0) return { bandwidthShare: 0, pressure: 0, memoryFraction: 0 };
  const achievedBytesPerMs = cluster.gpu.hbmGBps * physicsFor(cluster).achievedBandwidthFraction * 1e6;
  const bandwidthShare = Math.min(1, load.bytes / achievedBytesPerMs / load.ms);
  const compute = load.flops / (cluster.gpu.peakTflops * 1e9 * load.ms);
  return { bandwidthShare, pressure: Math.min(1, Math.max(compute, bandwidthShare)), memoryFraction: load.memoryBoundMs / load.ms };
}

/**
 * The co-running slowdown of one task (the interference model, measured on an H200: physics.ts): the
 * larger of 1 + γ · Σ neighbour pressure and, when the bandwidth demanded by the task and its neighbours
 * exceeds what HBM gives, 1 + its memory-bound share × the oversubscription. Never below 1.
 */
export function coRunSlowdown(
  self: { readonly bandwidthShare: number; readonly memoryFraction: number } | undefined,
  neighbours: readonly { readonly pressure: number; readonly bandwidthShare: number }[],
  gamma: number,
): number {
  const shared = 1 + gamma * neighbours.reduce((s, n) => s + n.pressure, 0);
  if (!self || neighbours.length === 0) return shared;
  const demand = self.bandwidthShare + neighbours.reduce((s, n) => s + n.bandwidthShare, 0);
  return Math.max(shared, 1 + self.memoryFraction * Math.max(0, demand - 1));
}

/** Quota levels a device allows: every multiple of the SM step from the minimum up to all SMs. */
export function quotaLevels(cluster: ClusterSpec): number[] {
  const g = cluster.gpu;
  const levels: number[] = [];
  for (let sms = g.smGranularity.min; sms <= g.smCount; sms += g.smGranularity.step) levels.push(sms / g.smCount);
  if (levels[levels.length - 1] !== 1) levels.push(1);
  return levels;
}

/** SM count a quota fraction stands for on a device. */
export function smsFor(cluster: ClusterSpec, quotaFraction: number): number {
  return Math.round(quotaFraction * cluster.gpu.smCount);
}
