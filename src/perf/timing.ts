import type { ClusterSpec, GpuSpec } from '../spec/types';
import type { Kernel } from './kernels';

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

/** Share of peak that each kernel class reaches at full occupancy (analytic defaults, no profile). */
export const ANALYTIC_EFFICIENCY = { gemm: 0.7, attention: 0.5, elementwise: 1 } as const;
/** Fraction of SMs that saturates HBM bandwidth; a smaller partition gets a proportional share. */
export const MEMORY_SATURATION_FRACTION = 0.5;
/** Host-side cost per kernel launch. */
export const LAUNCH_MS = 0.004;

/**
 * Analytic time of a list of kernels at a quota, from the GPU spec alone: each kernel is the slower of
 * its compute (limited to the SMs it has tiles for) and its memory traffic, plus a launch.
 */
export function kernelsTimeMs(kernels: readonly Kernel[], gpu: GpuSpec, quotaFraction: number): number {
  const flopsPerMs = gpu.peakTflops * 1e9;
  const bytesPerMs = gpu.hbmGBps * 1e6;
  let total = 0;
  for (const k of kernels) {
    const usable = Math.min(quotaFraction, k.tiles / gpu.smCount);
    const computeMs = k.flops > 0 ? k.flops / (flopsPerMs * ANALYTIC_EFFICIENCY[k.kind] * usable) : 0;
    const memoryMs = k.bytes / (bytesPerMs * Math.min(1, quotaFraction / MEMORY_SATURATION_FRACTION));
    total += Math.max(computeMs, memoryMs) + LAUNCH_MS;
  }
  return total;
}

/** Share of the device's HBM bandwidth the kernels draw while running at a quota. */
export function bandwidthShare(kernels: readonly Kernel[], gpu: GpuSpec, quotaFraction: number): number {
  const ms = kernelsTimeMs(kernels, gpu, quotaFraction);
  if (ms === 0) return 0;
  const bytes = kernels.reduce((s, k) => s + k.bytes, 0);
  return Math.min(1, bytes / (gpu.hbmGBps * 1e6) / ms);
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
