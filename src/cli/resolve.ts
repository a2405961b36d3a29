/** Spec resolution lives in the library (src/spec/resolve.ts); the CLI re-exports it. */
export { bundledNames, resolveCluster, resolveModel, resolveProfile, withBatch } from '../spec/resolve';
