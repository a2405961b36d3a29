/**
 * The launch contract: what every process (rank) of a plan runs, derived from the plan by one pure,
 * deterministic function and validated against schemas/launch.schema.json. `mosaic export` prints it,
 * `mosaic launch` hands it to each rank (MOSAIC_LAUNCH), and python/mosaic_runtime reads it.
 *
 * Ranks. By default one process per slot (`processPer: "slot"`): a slot is one quota-enforced
 * context, and MPS enforces a quota per process (CUDA_MPS_ACTIVE_THREAD_PERCENTAGE), so an MPS plan
 * needs a process per slot. With `processPer: "gpu"` one process hosts all the slots of its GPU and
 * gives each its own green context (CUDA green contexts split one process's SMs; processes on one GPU
 * without MPS only time-slice). Ranks are numbered by GPU id, then slot order, so a node's ranks are
 * contiguous and `LOCAL_RANK` is the index within the node.
 *
 * Batch. Global microbatch k of a module goes to the replica that the simulator gives it
 * (`assignMicrobatches`, replicas in index order), so the runtime reproduces exactly what the plan
 * predicted, and a DAG edge k goes from the producer's owner of k to the consumer's owner of k.
 * A replica's gradient weight is samples / global: Σ_r weight_r · (mean gradient of replica r) is the
 * mean gradient of the whole batch, however uneven the shares. The runtime all-reduces gradients in
 * buckets of `gradientBucketMiB` under the last backward, as the performance model charges.
 */

import { inputError } from '../errors';
import { assignMicrobatches } from '../perf/simulate';
import { DEFAULT_GRADIENT_BUCKET_MIB } from '../perf/sync';
import type { Plan } from '../spec/plan';
import { problemOf } from '../spec/problem';
import { formatSchemaErrors, schemaValidator } from '../spec/schemas';
import type { LaunchContract, LaunchEdge, LaunchModule, LaunchRank, LaunchSlot, ProcessPer } from '../spec/types';

export const LAUNCH_VERSION = 1;

export type LaunchOptions = { readonly processPer?: ProcessPer };

/** ⌊100·SMs/total⌋, at least 1: the percentages of one GPU's slots never sum past 100. */
export function mpsPercentage(smCount: number, total: number): number {
  return Math.max(1, Math.min(100, Math.floor((100 * smCount) / total + 1e-9)));
}

/** The contract of a (validated) plan. Pure: the same plan and options give the same contract. */
export function launchContract(plan: Plan, options: LaunchOptions = {}): LaunchContract {
  const processPer = options.processPer ?? 'slot';
  const { model, cluster } = plan;
  const problem = problemOf(model, cluster);
  const micro = model.batch.micro;
  const totalMicro = problem.microbatches;

  // Ranks: GPUs by id, then their slots in order; GPUs with no slot host no process.
  type Draft = { rank: number; node: number; gpu: number; slots: LaunchSlot[] };
  const drafts: Draft[] = [];
  const rankOfSlot = new Map<string, number>();
  for (const gpu of [...plan.gpus].sort((a, b) => a.id - b.id)) {
    const slots = gpu.slots.map((s) => ({ id: s.id, smCount: s.smCount, quotaFraction: s.quotaFraction, mpsPercentage: mpsPercentage(s.smCount, cluster.gpu.smCount), modules: [...s.modules] }));
    const groups = processPer === 'slot' ? slots.map((s) => [s]) : slots.length > 0 ? [slots] : [];
    for (const group of groups) {
      const rank = drafts.length;
      for (const s of group) rankOfSlot.set(s.id, rank);
      drafts.push({ rank, node: gpu.node, gpu: gpu.id, slots: group });
    }
  }

  // Modules: replicas in index order, microbatch owners as the simulator assigns them.
  const owners = new Map<string, { replica: number; rank: number }[]>();
  const modules: LaunchModule[] = model.modules.map((m) => {
    const reps = plan.replicas.filter((r) => r.module === m.name).sort((a, b) => a.index - b.index);
    const owner = assignMicrobatches(reps.map((r) => r.samples / micro));
    const replicas = reps.map((r, i) => {
      const rank = rankOfSlot.get(r.slot);
      if (rank === undefined) throw inputError(`replica ${r.module}#${r.index}: slot ${r.slot} is on no GPU of the plan`);
      return { index: r.index, rank, slot: r.slot, samples: r.samples, microbatches: owner.flatMap((o, k) => (o === i ? [k] : [])), gradientWeight: r.samples / model.batch.global };
    });
    owners.set(m.name, owner.map((o) => ({ replica: replicas[o].index, rank: replicas[o].rank })));
    return {
      name: m.name,
      trainable: m.trainable,
      inputs: [...m.inputs],
      outputElementsPerSample: m.outputElementsPerSample,
      group: [...new Set(replicas.map((r) => r.rank))].sort((a, b) => a - b),
      replicas,
    };
  });

  // Cross-rank edges, grouped by (producer replica, consumer replica).
  const sends = new Map<number, LaunchEdge[]>();
  const receives = new Map<number, LaunchEdge[]>();
  for (const m of model.modules) {
    for (const input of m.inputs) {
      const producer = owners.get(input)!;
      const consumer = owners.get(m.name)!;
      const byPair = new Map<string, { from: { replica: number; rank: number }; to: { replica: number; rank: number }; ks: number[] }>();
      for (let k = 0; k < totalMicro; k++) {
        const from = producer[k];
        const to = consumer[k];
        if (from.rank === to.rank) continue;
        const key = `${from.replica}>${to.replica}`;
        const entry = byPair.get(key) ?? { from, to, ks: [] };
        entry.ks.push(k);
        byPair.set(key, entry);
      }
      const elementsPerSample = problem.moduleByName.get(input)!.outputElementsPerSample;
      for (const { from, to, ks } of byPair.values()) {
        const edge = { module: input, replica: from.replica, toModule: m.name, toReplica: to.replica, microbatches: ks, elementsPerSample };
        sends.set(from.rank, [...(sends.get(from.rank) ?? []), { ...edge, peer: to.rank }]);
        receives.set(to.rank, [...(receives.get(to.rank) ?? []), { ...edge, peer: from.rank }]);
      }
    }
  }

  const localRanks = new Map<number, number>();
  const ranks: LaunchRank[] = drafts.map((d) => {
    const localRank = localRanks.get(d.node) ?? 0;
    localRanks.set(d.node, localRank + 1);
    const slotIds = new Set(d.slots.map((s) => s.id));
    return {
      rank: d.rank,
      node: d.node,
      localRank,
      gpu: d.gpu,
      localGpu: d.gpu % cluster.gpusPerNode,
      slots: d.slots,
      replicas: modules.flatMap((m) => m.replicas.filter((r) => slotIds.has(r.slot)).map((r) => ({ module: m.name, index: r.index, slot: r.slot }))),
      sends: sends.get(d.rank) ?? [],
      receives: receives.get(d.rank) ?? [],
    };
  });

  return {
    version: LAUNCH_VERSION,
    model: model.name,
    cluster: cluster.name,
    device: cluster.device,
    processPer,
    worldSize: ranks.length,
    batch: { global: model.batch.global, micro, microbatches: totalMicro },
    gradientBucketMiB: model.optimizer.gradientBucketMiB ?? DEFAULT_GRADIENT_BUCKET_MIB,
    nodes: Array.from({ length: cluster.nodes }, (_, node) => ({ node, ranks: ranks.filter((r) => r.node === node).map((r) => r.rank) })),
    modules,
    ranks,
  };
}

/** Schema check of a contract (one read from a file, or a derived one in tests). Returns problem lines. */
export function checkContract(contract: unknown, where: string): string[] {
  const validate = schemaValidator('launch');
  return validate(contract) ? [] : formatSchemaErrors(where, validate.errors ?? []);
}
