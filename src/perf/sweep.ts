/**
 * Predicted against measured, for a GPU sweep written by scripts/gpu-sweep.py: every GEMM, bandwidth,
 * attention, layer-step and co-running point becomes one row, so the physics can be checked (a test),
 * reported (bench/physics.bench.ts) and fitted (`mosaic calibrate --sweep`) from one reading.
 */
import { readFileSync } from 'fs';
import type { ClusterSpec, GpuPhysicsOverrides, ModuleSpec } from '../spec/types';
import { backwardKernels, forwardKernels, gemmKernel, type Kernel } from './kernels';
import { physicsFor } from './physics';
import { bundledNames, resolveCluster } from '../spec/resolve';
import { coRunSlowdown, kernelDeviceMs, kernelsLoad, loadShares } from './timing';

export type SweepRecord = { readonly section: string; readonly [field: string]: unknown };

export type SweepRow = {
  /** gemm | gemm-waves | bandwidth | attention | block-graph | block-eager | corun | block-corun */
  readonly kind: string;
  readonly label: string;
  readonly sms: number;
  readonly measured: number;
  readonly predicted: number;
  /** What the numbers are: ms, or a slowdown factor. */
  readonly unit: 'ms' | 'x';
};

export function readSweep(path: string): SweepRecord[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as SweepRecord);
}

/** The cluster a sweep ran on, from its env record and the datasheet of the GPU it names. */
export function sweepCluster(records: readonly SweepRecord[], overrides?: GpuPhysicsOverrides): ClusterSpec {
  const env = records.find((r) => r.section === 'env');
  if (!env) throw new Error('the sweep has no env record (GPU name and SM count)');
  const name = String(env.gpu);
  const sms = Number(env.sms);
  // Datasheet figures from the bundled cluster whose GPU is the same model (H200, H100, A100 …).
  const model = (n: string) => /[A-Z]+\d{2,}/i.exec(n)?.[0].toUpperCase();
  const bundled = bundledNames('clusters').map((c) => resolveCluster(c).gpu).find((g) => model(g.name) !== undefined && model(g.name) === model(name));
  if (!bundled) throw new Error(`no bundled cluster has the GPU "${name}" of this sweep: add a cluster spec with its datasheet figures to datasets/clusters`);
  const sheet = { peak: bundled.peakTflops, hbm: bundled.hbmGBps };
  return {
    name: `sweep-${name}`,
    description: `the GPU of a sweep (${name})`,
    device: 'gpu',
    nodes: 1,
    gpusPerNode: 1,
    gpu: { name, smCount: sms, smGranularity: { min: 8, step: 8 }, peakTflops: sheet.peak, hbmGBps: sheet.hbm, memoryGiB: Number(env.memoryGiB ?? 80), gemmTile: 128, ...(overrides ? { physics: overrides } : {}) },
    links: { intraNodeGBps: 450, interNodeGBps: 50, latencyUs: 5 },
  };
}

/** A bf16 GEMM of the sweep, tiles counted at 128. */
export const sweepGemm = (m: number, n: number, k: number): Kernel => gemmKernel({ name: `gemm ${m}x${n}x${k}`, m, n, k }, 2, 128);

/** A transformer layer as the sweep's blocks section builds it (nn.TransformerEncoderLayer, bf16). */
function layerModule(d: number, heads: number, ffn: number, tokens: number): ModuleSpec {
  return {
    name: 'layer',
    kind: 'llm',
    inputs: [],
    trainable: true,
    arch: { type: 'transformer', layers: 1, hidden: d, ffn, heads, ffnGated: false, biases: ['q', 'k', 'v', 'o', 'ffn'], norm: 'layernorm', tokensPerSample: tokens, causal: false },
  } as unknown as ModuleSpec;
}

const BLOCKS: Readonly<Record<string, { d: number; heads: number; ffn: number; tokens: number; batch: number }>> = {
  'vit-l-layer': { d: 1024, heads: 16, ffn: 4096, tokens: 257, batch: 32 },
  'llm-7b-layer': { d: 4096, heads: 32, ffn: 11008, tokens: 2048, batch: 1 },
  'vit-b-layer-small': { d: 768, heads: 12, ffn: 3072, tokens: 197, batch: 8 },
};

function blockKernels(name: string): Kernel[] {
  const b = BLOCKS[name];
  if (!b) throw new Error(`unknown layer "${name}" in the sweep's blocks section`);
  const m = layerModule(b.d, b.heads, b.ffn, b.tokens);
  return [...forwardKernels(m, b.batch, 'bf16', 128), ...backwardKernels(m, 'full', b.batch, 'bf16', 128, false)];
}

const COPY_BYTES = 256 * 2 ** 20 * 4;
const bandwidthKernel = (op: string): Kernel => ({
  name: op,
  flops: 0,
  bytes: op === 'read' ? COPY_BYTES : 2 * COPY_BYTES,
  tiles: Infinity,
  kind: 'elementwise',
  launches: 1,
});

/** Every comparable point of a sweep, predicted with the cluster's physics. */
export function compareSweep(records: readonly SweepRecord[], cluster: ClusterSpec): SweepRow[] {
  const gpu = cluster.gpu;
  const p = physicsFor(cluster);
  const rows: SweepRow[] = [];
  const device = (k: Kernel, sms: number) => kernelDeviceMs(k, gpu, p, sms, sms / gpu.smCount).ms;
  for (const r of records) {
    const sms = Number(r.sms);
    if (r.section === 'gemm-sms' && Number(r.carveout) === 0) {
      rows.push({ kind: 'gemm', label: `${r.m}x${r.n}x${r.k}`, sms, measured: Number(r.ms), predicted: device(sweepGemm(Number(r.m), Number(r.n), Number(r.k)), sms), unit: 'ms' });
    } else if (r.section === 'gemm-waves') {
      rows.push({ kind: 'gemm-waves', label: `${r.m}x${r.n}x${r.k}`, sms, measured: Number(r.ms), predicted: device(sweepGemm(Number(r.m), Number(r.n), Number(r.k)), sms), unit: 'ms' });
    } else if (r.section === 'bandwidth') {
      rows.push({ kind: 'bandwidth', label: String(r.op), sms, measured: Number(r.ms), predicted: device(bandwidthKernel(String(r.op)), sms), unit: 'ms' });
    } else if (r.section === 'attention') {
      const [b, h, s, d] = [Number(r.b), Number(r.h), Number(r.s), Number(r.d)];
      const causal = Boolean(r.causal);
      const flops = 4 * b * h * s * s * d * (causal ? 0.5 : 1);
      const att = (backward: boolean): Kernel => ({
        name: 'attention',
        flops: backward ? 2.5 * flops : flops,
        bytes: b * s * 4 * h * d * 2 * (backward ? 2 : 1),
        tiles: b * h * Math.ceil(s / 128),
        kind: 'attention',
        attention: { sequences: b * h, tokens: s, headDim: d, causal, backward },
        launches: 1,
      });
      const label = `b${b} h${h} s${s} d${d}${causal ? ' causal' : ''}`;
      rows.push({ kind: 'attention-fwd', label, sms, measured: Number(r.fwdMs), predicted: device(att(false), sms), unit: 'ms' });
      rows.push({ kind: 'attention-bwd', label, sms, measured: Number(r.bwdMs), predicted: device(att(true), sms), unit: 'ms' });
    } else if (r.section === 'blocks') {
      const kernels = blockKernels(String(r.module));
      const smsPair = r.sms as number[];
      const ms = r.ms as number[];
      smsPair.forEach((s, i) => {
        const load = kernelsLoad(kernels, cluster, s / gpu.smCount);
        const graph = r.mode === 'graph';
        rows.push({ kind: graph ? 'block-graph' : 'block-eager', label: String(r.module), sms: s, measured: ms[i]!, predicted: graph ? load.deviceMs : load.ms, unit: 'ms' });
      });
    } else if (r.section === 'corun' || (r.section === 'blocks-corun' && r.mode === 'graph')) {
      const names = r.section === 'corun' ? String(r.pair).split('+') : (r.pair as string[]);
      const measured = r.section === 'corun' ? (r.slowdown as number[]) : (r.slowdownVsAlonePartition as number[]);
      const sOf = (r.section === 'corun' ? [64, 64] : (r.sms as number[])) as number[];
      const kernelsOf = (n: string) => (n === 'gemm' ? [sweepGemm(8192, 8192, 8192)] : n === 'copy' ? [bandwidthKernel('copy')] : blockKernels(n));
      names.forEach((n, i) => {
        const j = 1 - i;
        const q = sOf[i]! / gpu.smCount;
        const qn = sOf[j]! / gpu.smCount;
        // The shares come from the slot load, host gaps included, as the planner computes them (the
        // sweep's co-running blocks were replayed as CUDA graphs, which have none).
        const mine = loadShares(kernelsLoad(kernelsOf(n), cluster, q), cluster);
        const theirs = loadShares(kernelsLoad(kernelsOf(names[j]!), cluster, qn), cluster);
        const factor = coRunSlowdown(
          mine,
          [theirs],
          p.interferenceGamma,
        );
        rows.push({ kind: r.section === 'corun' ? 'corun' : 'block-corun', label: `${n} | ${names[j]}`, sms: sOf[i]!, measured: measured[i]!, predicted: factor, unit: 'x' });
      });
    }
  }
  return rows;
}

/** Mean absolute percentage error of some rows (of slowdowns: of the part above 1). */
export function mape(rows: readonly SweepRow[]): number {
  if (rows.length === 0) return 0;
  return (100 * rows.reduce((s, r) => s + Math.abs(r.predicted - r.measured) / r.measured, 0)) / rows.length;
}
