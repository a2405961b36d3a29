/**
 * A `SolverBackend` that runs HiGHS, glpk.js or javascript-lp-solver in a fresh worker thread per solve.
 * The parent enforces the deadline itself: at `timeLimitMs + graceMs` it terminates the worker
 * (javascript-lp-solver's own timeout may never fire) and returns 'timeLimit' without values.
 * A worker that crashes or cannot start yields status 'error' — a value, not an exception.
 * Every result the worker got far enough for carries `startupMs` (worker start + solver load).
 */

import { existsSync } from 'fs';
import path from 'path';
import { Worker } from 'worker_threads';
import { MilpModel } from '../model';
import { BackendName, SolveOptions, SolveResult, SolverBackend } from './types';
import { WorkerMessage, WorkerRequest } from './worker-protocol';

/** Resolved next to this file so it works from dist/ (the worker must be compiled JavaScript). */
export const WORKER_PATH = path.join(__dirname, 'solver-worker.js');

/** Time past the limit before the worker is killed: covers worker start-up and GLPK's clock granularity. */
export const DEFAULT_GRACE_MS = 1000;

export type WorkerBackendOptions = { readonly graceMs?: number; readonly workerPath?: string };

export function createWorkerBackend(name: BackendName, settings: WorkerBackendOptions = {}): SolverBackend {
  const graceMs = settings.graceMs ?? DEFAULT_GRACE_MS;
  const workerPath = settings.workerPath ?? WORKER_PATH;
  return {
    name,
    solve: (model, options) => solveInWorker(name, workerPath, graceMs, model, options),
  };
}

function solveInWorker(backend: BackendName, workerPath: string, graceMs: number, model: MilpModel, options: SolveOptions): Promise<SolveResult> {
  const startedAtMs = Date.now();
  const elapsed = (): number => Date.now() - startedAtMs;
  if (!existsSync(workerPath)) {
    return Promise.resolve({ backend, status: 'error', solveMs: 0, message: `solver worker not found at ${workerPath} (run from compiled JavaScript)` });
  }
  return new Promise<SolveResult>((resolve) => {
    const request: WorkerRequest = { backend, model, options, startedAtMs };
    const worker = new Worker(workerPath, { workerData: request });
    let settled = false;
    // Reported by the worker once its solver is loaded; attached to every later outcome.
    let startupMs: number | undefined;
    const settle = (result: SolveResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      void worker.terminate();
      resolve(startupMs === undefined ? result : { ...result, startupMs });
    };
    const deadline = setTimeout(
      () => settle({ backend, status: 'timeLimit', solveMs: elapsed(), message: `${backend} worker killed at the deadline (${options.timeLimitMs} ms + ${graceMs} ms grace)` }),
      options.timeLimitMs + graceMs,
    );
    worker.on('message', (message: WorkerMessage) => {
      if (message.kind === 'started') {
        startupMs = message.startupMs;
      } else if (message.kind === 'done') {
        // solveMs is the caller's wall time: worker start-up and WebAssembly load included.
        settle({ ...message.result, solveMs: elapsed(), ...(message.values ? { values: new Map(message.values) } : {}) });
      } else {
        settle({ backend, status: 'error', solveMs: elapsed(), message: `${backend} worker failed: ${message.error}` });
      }
    });
    worker.on('error', (error) => settle({ backend, status: 'error', solveMs: elapsed(), message: `${backend} worker crashed: ${error.message}` }));
    worker.on('exit', (code) => settle({ backend, status: 'error', solveMs: elapsed(), message: `${backend} worker exited with code ${code} before replying` }));
  });
}
