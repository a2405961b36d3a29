import type { PlanGpu, PlanReplica } from '../spec/plan';
import { GiB } from '../spec/problem';
import type { ModelSpec, ModuleSpec } from '../spec/types';
import { BYTES_PER_ELEMENT } from './kernels';
import type { PerfModel } from './perf-model';

/** CUDA context, cuBLAS/cuDNN workspaces and allocator slack per GPU, plus per extra context. */
export const WORKSPACE_BYTES_PER_GPU = 1 * GiB;
export const WORKSPACE_BYTES_PER_SLOT = 0.25 * GiB;

/**
 * Activation elements a module keeps for backward per microbatch. Transformers (flash attention, no
 * dropout, after Korthikanti et al. 2022): per block M·(8h + 2·ffn) elements, M·(8h + 3·ffn) with a
 * gated FFN. With checkpointing only block inputs (M·h per block) stay, plus one block being recomputed.
 */
export function storedActivationElements(module: ModuleSpec, micro: number, checkpointing: boolean): number {
  const a = module.arch;
  if (a.type === 'transformer') {
    const m = micro * a.tokensPerSample;
    const perBlock = m * (8 * a.hidden + (a.ffnGated ? 3 : 2) * a.ffn);
    return checkpointing ? a.layers * m * a.hidden + perBlock : a.layers * perBlock;
  }
  if (a.type === 'mlp') {
    const m = micro * a.tokensPerSample;
    let sum = 0;
    for (let i = 0; i + 1 < a.widths.length; i++) sum += m * (a.widths[i] + a.widths[i + 1]);
    return sum;
  }
  // Explicit modules give bytes at full storage; checkpointing is assumed to keep a quarter of them.
  const elements = (a.activationBytesPerSample * micro) / 2;
  return checkpointing ? elements / 4 : elements;
}

/** Microbatches a replica may have between forward and backward: one per module downstream, plus one. */
export function inflightLimit(perf: PerfModel, module: string, microbatches: number): number {
  return Math.max(1, Math.min(microbatches, downstreamDepth(perf.model, module) + 1));
}

function downstreamDepth(model: ModelSpec, module: string): number {
  const consumers = model.modules.filter((m) => m.inputs.includes(module));
  return 1 + Math.max(0, ...consumers.map((c) => downstreamDepth(model, c.name)));
}

/** Bytes one replica of a module holds on its GPU, with ZeRO sharding over the module's replicas. */
export function replicaMemoryBytes(perf: PerfModel, module: string, replicas: number, microbatches: number): number {
  const model = perf.model;
  const spec = perf.moduleByName.get(module)!;
  const timing = perf.timings.get(module)!;
  const e = BYTES_PER_ELEMENT[model.precision];
  const p = timing.params;
  const zero = model.optimizer.zeroStage;
  const shard = (stage: number) => (zero >= stage ? replicas : 1);
  let bytes = (p * e) / shard(3);
  if (zero >= 3 && replicas > 1) bytes += (p * e) / layersOf(spec); // gathered weights of the block in use
  if (spec.trainable) {
    bytes += (p * e) / shard(2);
    bytes += (p * model.optimizer.stateBytesPerParam) / shard(1);
  }
  const micro = model.batch.micro;
  if (timing.backward !== 'none') {
    bytes += inflightLimit(perf, module, microbatches) * storedActivationElements(spec, micro, model.activationCheckpointing) * e;
  } else {
    bytes += storedActivationElements(spec, micro, true) * e / Math.max(1, layersOf(spec));
  }
  bytes += 2 * spec.outputElementsPerSample * micro * e; // double-buffered output to consumers
  return bytes;
}

function layersOf(spec: ModuleSpec): number {
  return spec.arch.type === 'transformer' ? spec.arch.layers : spec.arch.type === 'mlp' ? spec.arch.widths.length - 1 : 1;
}

/** Memory of every GPU of a plan, in bytes. */
export function planMemoryBytes(perf: PerfModel, gpus: readonly PlanGpu[], replicas: readonly PlanReplica[]): number[] {
  const counts = new Map<string, number>();
  for (const r of replicas) counts.set(r.module, (counts.get(r.module) ?? 0) + 1);
  const slotGpu = new Map<string, number>();
  gpus.forEach((g, i) => g.slots.forEach((s) => slotGpu.set(s.id, i)));
  const bytes = gpus.map((g) => WORKSPACE_BYTES_PER_GPU + WORKSPACE_BYTES_PER_SLOT * Math.max(0, g.slots.length - 1));
  for (const r of replicas) {
    const i = slotGpu.get(r.slot);
    if (i === undefined) continue;
    const micro = Math.ceil(r.samples / perf.model.batch.micro);
    bytes[i] += replicaMemoryBytes(perf, r.module, counts.get(r.module)!, micro);
  }
  return bytes;
}
