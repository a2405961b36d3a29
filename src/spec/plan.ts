/**
 * A Plan: which modules run on which GPU, in which slot (an execution context held to a quota),
 * how the global batch is split across each module's replicas, and what the performance model predicts.
 *
 * A slot is one quota-enforced context (a CUDA green context, or a pinned CPU thread pool). The modules
 * listed on one slot share it in time; different slots on one GPU run at the same time. This covers
 * temporal-sequential (one slot at 100% holding every module), temporal-exclusive (one module per GPU)
 * and spatial colocation (several slots per GPU) with one shape.
 */

import type { ClusterSpec, ModelSpec, Profile } from './types';

export const PLAN_VERSION = 1;

/**
 * Where a plan truly comes from: the exact planner (`ilp`), a heuristic, a baseline, or a person
 * (`hand`: a plan file written or edited outside Mosaic). Optimality is not a provenance: it is
 * `PlanningBound`, which states over which space and within which proven gap.
 */
export type Provenance = 'ilp' | 'hand' | `heuristic:${string}` | `baseline:${string}`;

/**
 * A lower bound on the simulated iteration time of every plan in `space`, and this plan's gap to it
 * (simulated / bound − 1). `method` says how the bound was proven and why the search stopped.
 */
export type PlanningBound = {
  readonly boundMs: number;
  readonly gap: number;
  readonly space: string;
  readonly method: 'relaxation: gap target met' | 'relaxation: optimum bracketed' | 'relaxation: trial budget spent' | 'relaxation: time limit' | 'perfect scaling (no exact search run)';
};

export type PlanSlot = {
  /** Stable id, `g<gpu>.s<index>`. */
  readonly id: string;
  readonly quotaFraction: number;
  readonly smCount: number;
  readonly modules: readonly string[];
};

export type PlanGpu = {
  readonly id: number;
  readonly node: number;
  readonly slots: readonly PlanSlot[];
};

export type PlanReplica = {
  readonly module: string;
  readonly index: number;
  readonly slot: string;
  /** Samples of the global batch this replica processes each iteration. */
  readonly samples: number;
};

/** Data a module moves between GPUs in one iteration, and the slowest link it crosses. */
export type ModuleTraffic = {
  /** Time (summed over transfers for activations), bytes, link (`none` when nothing leaves the GPU). */
  readonly ms: number;
  readonly bytes: number;
  readonly link: 'none' | 'intra-node' | 'inter-node';
};

export type ModuleStage = {
  readonly module: string;
  /** Busy time of the module's busiest replica in one iteration. */
  readonly busyMs: number;
  readonly replicas: number;
  /** The same as busyMs: forward, backward and optimizer time of the busiest replica (absent in older plan files). */
  readonly computeMs?: number;
  /** The iteration less compute and the gradient all-reduce. */
  readonly idleMs?: number;
  /**
   * The gradient all-reduce over the module's replicas (bytes each replica contributes), and the
   * activations and activation gradients it sends to other GPUs.
   */
  readonly communication?: { readonly allReduce: ModuleTraffic; readonly activations: ModuleTraffic };
};

export type Prediction = {
  readonly iterationMs: number;
  readonly samplesPerSecond: number;
  readonly lowerBoundMs: number;
  readonly memoryBytesPerGpu: readonly number[];
  readonly stages: readonly ModuleStage[];
  /** `analytic` when the curves come from the GPU spec, `calibrated` when from a profile. */
  readonly perfSource: 'analytic' | 'calibrated';
};

export type SolverRecord = {
  readonly backend: string;
  readonly status: string;
  readonly objective?: number;
  readonly bound?: number;
  readonly gap?: number;
  readonly solveMs?: number;
};

export type Plan = {
  readonly version: typeof PLAN_VERSION;
  /** The specs the plan was made for, embedded so that a plan file is self-contained. */
  readonly model: ModelSpec;
  readonly cluster: ClusterSpec;
  /** Calibrated curves used for the prediction, if a profile was given. */
  readonly profile?: Profile;
  readonly provenance: Provenance;
  /** The factor `mosaic plan --scale` shrank the model by; `model` is the shrunk spec. Absent: 1. */
  readonly scale?: number;
  readonly gpus: readonly PlanGpu[];
  readonly replicas: readonly PlanReplica[];
  readonly prediction: Prediction;
  readonly solver?: SolverRecord;
  readonly bound?: PlanningBound;
};
