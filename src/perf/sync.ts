import { BYTES_PER_ELEMENT } from './kernels';
import type { PerfModel } from './perf-model';
import { achievedBandwidthGBps, physicsFor } from './physics';

/**
 * What a trainable module pays after its last backward, once per iteration: the gradient collective
 * over its replicas, then each replica's optimizer step on its own slot. One place for both the
 * simulator and the lower bound (src/plan/exact/README.md), so the bound charges exactly what the
 * simulator does.
 */

/** Ring all-reduce of `bytes` over replicas on the given nodes: 2(R−1)/R of the data over the slowest link. */
export function allReduceMs(perf: PerfModel, nodes: readonly number[], bytes: number): number {
  const spansNodes = nodes.length > 0 && nodes.some((n) => n !== nodes[0]);
  return ringAllReduceMs(perf, nodes.length, spansNodes, bytes);
}

/** The same ring all-reduce from the replica count and whether the replicas span more than one node. */
export function ringAllReduceMs(perf: PerfModel, replicas: number, spansNodes: boolean, bytes: number): number {
  if (replicas <= 1) return 0;
  const links = perf.cluster.links;
  const gbps = spansNodes ? links.interNodeGBps : links.intraNodeGBps;
  return (2 * (replicas - 1) * links.latencyUs) / 1000 + ((2 * (replicas - 1)) / replicas) * (bytes / (gbps * 1e6));
}

/** Which link a collective or a transfer crosses: none (one replica, or the same GPU), the links inside a node (NVLink on GPUs), or the links between nodes. */
export type LinkKind = 'none' | 'intra-node' | 'inter-node';

/** One module's gradient synchronisation: how long, how many bytes each replica contributes, over which link. */
export type GradientSync = { readonly ms: number; readonly bytes: number; readonly link: LinkKind };

/**
 * Gradient synchronisation of a module over `replicas` replicas: a ring all-reduce of its gradients
 * (ZeRO-3 adds the parameter gathers: ×1.5 time and bytes). The one formula the simulator, the
 * reports and the bounds use.
 */
export function gradientSync(perf: PerfModel, module: string, replicas: number, spansNodes: boolean): GradientSync {
  if (replicas <= 1) return { ms: 0, bytes: 0, link: 'none' };
  const e = BYTES_PER_ELEMENT[perf.model.precision];
  const zero3 = perf.model.optimizer.zeroStage >= 3 ? 1.5 : 1;
  const bytes = perf.timings.get(module)!.params * e;
  return { ms: ringAllReduceMs(perf, replicas, spansNodes, bytes) * zero3, bytes: bytes * zero3, link: spansNodes ? 'inter-node' : 'intra-node' };
}

/** The time of `gradientSync`, for the bounds. */
export function gradientSyncMs(perf: PerfModel, module: string, replicas: number, spansNodes: boolean): number {
  return gradientSync(perf, module, replicas, spansNodes).ms;
}

/** A point-to-point transfer of `bytes` between two GPUs (activations forward, their gradients backward). */
export function transferMs(perf: PerfModel, sameNode: boolean, bytes: number): number {
  const links = perf.cluster.links;
  return links.latencyUs / 1000 + bytes / ((sameNode ? links.intraNodeGBps : links.interNodeGBps) * 1e6);
}

/**
 * One replica's optimizer step: it reads and writes its shard of the parameters, gradients and optimizer
 * state (ZeRO ≥ 1 shards over the module's replicas) at the HBM bandwidth its quota reaches.
 */
export function optimizerStepMs(perf: PerfModel, module: string, replicas: number, quotaFraction: number): number {
  const { model, cluster } = perf;
  const e = BYTES_PER_ELEMENT[model.precision];
  const shard = model.optimizer.zeroStage >= 1 ? replicas : 1;
  const bytes = (perf.timings.get(module)!.params / shard) * (model.optimizer.stateBytesPerParam + 2 * e) * 2;
  const sms = Math.max(1, Math.round(quotaFraction * cluster.gpu.smCount));
  return bytes / (achievedBandwidthGBps(cluster.gpu, physicsFor(cluster), sms) * 1e6);
}
