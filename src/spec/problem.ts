import { topologicalOrder } from './check-model';
import type { ClusterSpec, ModelSpec, ModuleSpec } from './types';

/** Bytes in a GiB: cluster specs give device memory in GiB (`gpu.memoryGiB`). */
export const GiB = 1024 ** 3;

/**
 * One planning problem: a checked model on a checked cluster, with what every planner, bound and
 * simulator derives from the pair computed once, here, instead of at each use. Plain readonly data
 * like the specs; a PerfModel is a Problem with the performance curves added.
 */
export type Problem = {
  readonly model: ModelSpec;
  readonly cluster: ClusterSpec;
  /** GPUs in the cluster: nodes × GPUs per node. */
  readonly gpuCount: number;
  /** The node of GPU `gpu` (GPUs are numbered node by node from 0). */
  readonly nodeOf: (gpu: number) => number;
  /** Microbatches per iteration: global batch / micro-batch (a whole number for a checked model). */
  readonly microbatches: number;
  /** Device memory of one GPU in bytes. */
  readonly capacityBytes: number;
  /** Modules in topological order (inputs first). */
  readonly order: readonly string[];
  /** Each module's spec by name. */
  readonly moduleByName: ReadonlyMap<string, ModuleSpec>;
};

/** GPUs in a cluster, for code that has a cluster but no model yet (the cluster loader's limit check). */
export const gpuCountOf = (cluster: ClusterSpec): number => cluster.nodes * cluster.gpusPerNode;

/** Microbatches per iteration, for code that has a model but no cluster (compiling and profiling it). */
export const microbatchesOf = (model: ModelSpec): number => model.batch.global / model.batch.micro;

/** The problem of a model (checked: acyclic, batch a multiple of the micro-batch) on a cluster. */
export function problemOf(model: ModelSpec, cluster: ClusterSpec): Problem {
  return {
    model,
    cluster,
    gpuCount: gpuCountOf(cluster),
    nodeOf: (gpu) => Math.floor(gpu / cluster.gpusPerNode),
    microbatches: microbatchesOf(model),
    capacityBytes: cluster.gpu.memoryGiB * GiB,
    order: topologicalOrder(model),
    moduleByName: new Map(model.modules.map((m) => [m.name, m])),
  };
}
