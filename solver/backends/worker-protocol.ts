/** Messages between `worker-backend.ts` and `solver-worker.ts` (structured-clone friendly). */

import { MilpModel } from '../model';
import { BackendName, SolveOptions, SolveResult } from './types';

export type WorkerRequest = {
  readonly backend: BackendName;
  readonly model: MilpModel;
  readonly options: SolveOptions;
  /** Parent's clock at the start of `solve`, so worker start-up counts against the time limit. */
  readonly startedAtMs: number;
};

/**
 * What the worker posts: first `started` once the solver is loaded (so the parent knows the
 * start-up time even if it must kill the worker later), then exactly one `done` or `failed`.
 */
export type WorkerMessage =
  | { readonly kind: 'started'; readonly startupMs: number }
  | { readonly kind: 'done'; readonly result: Omit<SolveResult, 'values'>; readonly values: [string, number][] | undefined }
  | { readonly kind: 'failed'; readonly error: string };
