/** Batch offline planning: manifests, the worker-thread runner, resumable results, shards, merge, reports. */
export { caseId, caseKey, describeCase, inShard, loadManifest, manifestHash, parseManifest, parseShard, shardOf, BATCH_METHODS, DEFAULT_GRACE_SECONDS, DEFAULT_TIME_LIMIT_SECONDS } from './manifest';
export type { BatchCase, Manifest, ManifestCase, Shard } from './manifest';
export type { BatchMethod, BatchSize } from '../spec/types';
export { defaultWorkers, hardLimitMs, runBatch, HARD_LIMIT_FACTOR } from './runner';
export type { BatchControl, BatchOptions, BatchSummary } from './runner';
export { mergeDirs } from './merge';
export type { MergeSummary } from './merge';
export { reportHtml, summaryCsv, writeReport } from './report';
export { runCase } from './run-case';
export type { CaseError, CaseJob, CaseOutcome, CaseSummary } from './run-case';
export { parseResults, readResults, readState, RESULTS_FILE, STATE_FILE } from './store';
export type { BatchState, CaseResult } from './store';
