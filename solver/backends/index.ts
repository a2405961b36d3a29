/** Public surface of the solver backends. */

export * from './types';
export { createWorkerBackend, DEFAULT_GRACE_MS, WORKER_PATH } from './worker-backend';
export type { WorkerBackendOptions } from './worker-backend';
export { solveWithFallback, UNBOUNDED_MESSAGE } from './fallback';
export { backendInstalled, BACKEND_PACKAGES, hideBackendsForTesting } from './available';
export type { FallbackSeams } from './fallback';
export { CUTOFF_INFEASIBLE_MESSAGE } from './cutoff';
export { findViolations, CHECK_TOLERANCE } from './check-solution';
