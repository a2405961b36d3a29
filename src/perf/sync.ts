import { BYTES_PER_ELEMENT } from './kernels';
import type { PerfModel } from './perf-model';
import { achievedBandwidthGBps, physicsFor } from './physics';

/**
 * What a trainable module pays after its last backward, once per iteration: the gradient collective
 * over its replicas, then each replica's optimizer step on its own slot. One place for both the
 * simulator and the lower bound (src/plan/exact/README.md), so the bound charges exactly what the
 * simulator does.
 */

/**
 * All-reduce of `bytes` over `replicas` replicas on `nodes` nodes (1: inside one node), as NCCL's tuning
 * model costs it (NVIDIA/nccl src/graph/tuning.cc, ncclTopoTuneModel), taking the faster of its two
 * algorithms as NCCL does:
 * - ring: 2(R−1) steps, each a message latency (the cluster's `latencyUs`), and 2(R−1)/R of the data over
 *   the slowest link (the links between nodes when it spans several);
 * - tree, across nodes only: 2((R/n − 1) + ⌈log2 n⌉) latencies (up and down a chain inside each node and
 *   a binary tree over the nodes), and its algorithm bandwidth half the link's (tuning.cc's ratio 0.5), so
 *   2× the data over the links between nodes.
 * On thousands of replicas the ring's latencies dominate small buckets (2,047 × 2 × 5 µs per 25 MiB bucket
 * on 256 nodes of 8), which is why NCCL switches to the tree there.
 */
export function allReduceMs(perf: PerfModel, replicas: number, nodes: number, bytes: number): number {
  if (replicas <= 1) return 0;
  const links = perf.cluster.links;
  const latencyMs = links.latencyUs / 1000;
  const gbps = nodes > 1 ? links.interNodeGBps : links.intraNodeGBps;
  const ring = 2 * (replicas - 1) * latencyMs + ((2 * (replicas - 1)) / replicas) * (bytes / (gbps * 1e6));
  if (nodes <= 1) return ring;
  const tree = 2 * (replicas / nodes - 1 + Math.ceil(Math.log2(nodes))) * latencyMs + 2 * (bytes / (gbps * 1e6));
  return Math.min(ring, tree);
}

/** Which link a collective or a transfer crosses: none (one replica, or the same GPU), the links inside a node (NVLink on GPUs), or the links between nodes. */
export type LinkKind = 'none' | 'intra-node' | 'inter-node';

/**
 * One module's gradient synchronisation: how long the collectives keep the links busy in all, how many
 * bytes each replica contributes, over which link, and in how many buckets.
 */
export type GradientSync = { readonly ms: number; readonly bytes: number; readonly link: LinkKind; readonly buckets: number };

/** PyTorch DDP's default gradient bucket (`bucket_cap_mb=25`, in MiB: pytorch/pytorch#118421, torch/nn/parallel/distributed.py). */
export const DEFAULT_GRADIENT_BUCKET_MIB = 25;

/** A module's gradient bytes per replica (before ZeRO-3's parameter gathers). */
function gradientBytes(perf: PerfModel, module: string): number {
  return perf.timings.get(module)!.params * BYTES_PER_ELEMENT[perf.model.precision];
}

/**
 * How many buckets a module's gradients travel in, the same for every replica count: one per
 * `optimizer.gradientBucketMiB` (0: one, after the last backward).
 */
export function moduleBuckets(perf: PerfModel, module: string): number {
  const mib = perf.model.optimizer.gradientBucketMiB ?? DEFAULT_GRADIENT_BUCKET_MIB;
  return mib > 0 ? Math.max(1, Math.ceil(gradientBytes(perf, module) / (mib * 1024 * 1024))) : 1;
}

/**
 * Gradient synchronisation of a module over `replicas` replicas on `nodes` distinct nodes: one
 * all-reduce per bucket of its gradients (`allReduceMs`; ZeRO-3 adds the parameter gathers: ×1.5 time
 * and bytes). The one formula the simulator, the reports and the bounds use.
 */
export function gradientSync(perf: PerfModel, module: string, replicas: number, nodes: number): GradientSync {
  if (replicas <= 1) return { ms: 0, bytes: 0, link: 'none', buckets: 1 };
  const zero3 = perf.model.optimizer.zeroStage >= 3 ? 1.5 : 1;
  const bytes = gradientBytes(perf, module);
  const buckets = moduleBuckets(perf, module);
  const ms = buckets * allReduceMs(perf, replicas, nodes, bytes / buckets) * zero3;
  return { ms, bytes: bytes * zero3, link: nodes > 1 ? 'inter-node' : 'intra-node', buckets };
}

/**
 * The least gradient sync of `replicas` replicas over every node count they could sit on: one node, or
 * (`spansNodes`) any count from 2 to min(replicas, the cluster's nodes). What the bounds charge when they
 * know only whether a module spans nodes. It does not fall as the replica count grows (each node
 * count's cost grows with it, and the count added, R + 1 nodes of one replica, costs at least R nodes of
 * one), which the relaxation's classes need (src/plan/exact/classes.ts).
 */
export function leastGradientSync(perf: PerfModel, module: string, replicas: number, spansNodes: boolean): GradientSync {
  if (!spansNodes || replicas <= 1) return gradientSync(perf, module, replicas, 1);
  let best: GradientSync | undefined;
  for (let n = 2; n <= Math.min(replicas, perf.cluster.nodes); n++) {
    const s = gradientSync(perf, module, replicas, n);
    if (!best || s.ms < best.ms) best = s;
  }
  return best ?? gradientSync(perf, module, replicas, 1);
}

/** Distinct nodes of a list of node ids (one per replica). */
export function distinctNodes(nodes: readonly number[]): number {
  return new Set(nodes).size;
}

/**
 * From the end of a replica's work to the end of its module's gradient sync (src/plan/exact/README.md,
 * "Bucketed sync"), given how much of the sync that work can hide (`hiddenSyncMs`). The last backward
 * (start s, duration D) makes the k buckets ready evenly, at s + D·i/k; bucket i's all-reduce starts
 * once every replica has it ready and the previous bucket is done, and takes sync/k. Unrolled, the sync
 * ends at max over replicas of  e + max(sync/k, sync − D·(1 − 1/k)):  the last bucket after the
 * backward, or the whole sync after the first bucket. k = 1 is one all-reduce after the last backward.
 */
export function syncTailMs(sync: Pick<GradientSync, 'ms' | 'buckets'>, hiddenMs: number): number {
  if (sync.ms <= 0) return 0;
  return Math.max(sync.ms / sync.buckets, sync.ms - hiddenMs);
}

/**
 * How much of a sync in k buckets hides under a replica's work when that work counts `microbatchMs`
 * for its last microbatch, whose forward takes at least `forwardMs` and backward at least `backwardMs`:
 * the sync ends at least at (start of the last backward) + backward/k + sync, and that start is at least
 * (work − microbatchMs + forward). The simulator's own case (the actual times) is D·(1 − 1/k); a bound
 * passes the floors it counted, and smaller floors only hide more (a valid, looser bound).
 */
export function hiddenSyncMs(buckets: number, microbatchMs: number, forwardMs: number, backwardMs: number): number {
  return Math.max(0, microbatchMs - forwardMs - backwardMs / buckets);
}

/** The sync's tail after a replica's last backward of `backwardMs` (or after work whose floors end with one): it hides D·(1 − 1/k). */
export function syncTailAfterBackwardMs(sync: Pick<GradientSync, 'ms' | 'buckets'>, backwardMs: number): number {
  return syncTailMs(sync, hiddenSyncMs(sync.buckets, backwardMs, 0, backwardMs));
}

/**
 * How much longer a replica's last backward (`backwardMs`) runs while the bucketed collective overlaps
 * it holding `heldFraction` of the SMs (physics `collectiveSmFraction`): the overlapped part,
 * min(D·(1 − 1/k), S − S/k), times f/(1 − f). It grows with the backward and with the sync, so floors
 * of both give a floor of it (what the bounds add to the work they count).
 */
export function collectiveStretchMs(sync: Pick<GradientSync, 'ms' | 'buckets'>, backwardMs: number, heldFraction: number): number {
  if (sync.ms <= 0 || sync.buckets <= 1 || heldFraction <= 0) return 0;
  return Math.min(backwardMs * (1 - 1 / sync.buckets), sync.ms - sync.ms / sync.buckets) * (heldFraction / (1 - heldFraction));
}

/**
 * For the heuristics' estimates: the sync's tail after a replica whose last backward took `backwardMs`,
 * the module's replicas sitting on `nodes` (one entry per replica).
 */
export function syncAfterBackwardMs(perf: PerfModel, module: string, nodes: readonly number[], backwardMs: number): number {
  return syncTailAfterBackwardMs(gradientSync(perf, module, nodes.length, distinctNodes(nodes)), backwardMs);
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
