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

/** Gradient synchronisation of a module over `replicas` replicas (ZeRO-3 adds the parameter gathers: ×1.5). */
export function gradientSyncMs(perf: PerfModel, module: string, replicas: number, spansNodes: boolean): number {
  const e = BYTES_PER_ELEMENT[perf.model.precision];
  const bytes = perf.timings.get(module)!.params * e;
  return ringAllReduceMs(perf, replicas, spansNodes, bytes) * (perf.model.optimizer.zeroStage >= 3 ? 1.5 : 1);
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
