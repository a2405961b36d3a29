/**
 * Worker-thread entry: solves one model with one backend and posts the result back.
 * Solvers are synchronous and block their thread; running them here keeps the main event loop
 * free and lets the parent `terminate()` a solver that ignores its own time limit.
 * Loaded by path from `worker-backend.ts` (compiled to dist/solver/backends/solver-worker.js).
 */

import { parentPort, workerData } from 'worker_threads';
import { loadGlpk, solveWithGlpk } from './glpk-solve';
import { loadHighs, solveWithHighs } from './highs-solve';
import { solveWithJslp } from './jslp-solve';
import { SolveResult } from './types';
import { WorkerMessage, WorkerRequest } from './worker-protocol';

type Solve = (budgetMs: number) => SolveResult;

/** Loads the backend's solver (the WebAssembly module for highs and glpk) and returns its solve call. */
async function load(request: WorkerRequest): Promise<Solve> {
  const { model, options } = request;
  if (request.backend === 'highs') {
    const highs = await loadHighs();
    return (budgetMs) => solveWithHighs(highs, model, options, budgetMs);
  }
  if (request.backend === 'glpk') {
    const glpk = await loadGlpk();
    return (budgetMs) => solveWithGlpk(glpk, model, options, budgetMs);
  }
  return (budgetMs) => solveWithJslp(model, options, budgetMs);
}

const post = (message: WorkerMessage): void => parentPort?.postMessage(message);

async function run(request: WorkerRequest): Promise<WorkerMessage> {
  const budgetMs = (): number => Math.max(1, request.options.timeLimitMs - (Date.now() - request.startedAtMs));
  const solve = await load(request);
  // Start-up: worker thread start plus solver load, on the parent's clock (same process, same clock).
  const startupMs = Math.max(0, Date.now() - request.startedAtMs);
  post({ kind: 'started', startupMs });
  const { values, ...rest } = solve(budgetMs());
  return { kind: 'done', result: { ...rest, startupMs }, values: values ? [...values] : undefined };
}

run(workerData as WorkerRequest).then(post, (error: unknown) =>
  post({ kind: 'failed', error: error instanceof Error ? error.stack ?? error.message : String(error) }),
);
