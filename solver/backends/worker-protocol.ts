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

export type WorkerReply =
  | { readonly ok: true; readonly result: Omit<SolveResult, 'values'>; readonly values: [string, number][] | undefined }
  | { readonly ok: false; readonly error: string };
