/** The package entry (`main`/`types` in package.json): planning, scoring, training, profiling, batch, and the domain types. */
export { planModel, type PlanningResult } from './plan/planner';
export { exactSearch, type ExactResult } from './plan/exact/search';
export { planLowerBound } from './plan/exact/plan-bound';
export { validatePlan } from './plan/validate';
export { buildPerfModel } from './perf/perf-model';
export { simulateIteration } from './perf/simulate';
export { trainPlan } from './engine/train';
export { profileModel } from './engine/profile';
export { runBatch } from './batch/runner';
export { MosaicError } from './errors';
export type { ModelSpec, ClusterSpec, Profile, LaunchContract } from './spec/types';
export type { Plan, PlanningBound, Provenance } from './spec/plan';
export { launchContract } from './launch/contract';
