/**
 * A Plan: which modules run on which GPU, in which slot (an execution context held to a quota),
 * how the global batch is split across each module's replicas, and what the performance model predicts.
 *
 * A slot is one quota-enforced context (a CUDA green context, or a pinned CPU thread pool). The modules
 * listed on one slot share it in time; different slots on one GPU run at the same time. This covers
 * temporal-sequential (one slot at 100% holding every module), temporal-exclusive (one module per GPU)
 * and spatial colocation (several slots per GPU) with one shape.
 */

/**
 * The plan file's types are generated from schemas/plan.schema.json (./types.generated.ts), like the
 * other spec files', so the schema that `mosaic show`, `score` and `train` validate with and the
 * types the planner writes cannot drift.
 */
export type { ModuleStage, ModuleTraffic, PlanFile, PlanGpu, PlanningBound, PlanReplica, PlanSlot, Prediction, SolverRecord } from './types';
import type { PlanFile, Prediction } from './types';

/**
 * A plan as the planner writes it and as `loadPlan` returns it: always with its prediction. A plan file
 * (`PlanFile`) written by hand may leave the prediction out; loadPlan simulates it.
 */
export type Plan = PlanFile & { readonly prediction: Prediction };

export const PLAN_VERSION = 1;

/**
 * Where a plan truly comes from: the exact planner (`ilp`), a heuristic, a baseline, or a person
 * (`hand`: a plan file written or edited outside Mosaic). What the planner writes; the file's
 * `provenance` is a string the schema checks (and `ilp-optimal`/`ilp-incumbent` of older files are
 * read as `ilp`). Optimality is not a provenance: it is `PlanningBound`, which states over which space
 * and within which proven gap.
 */
export type Provenance = 'ilp' | 'hand' | `heuristic:${string}` | `baseline:${string}`;
