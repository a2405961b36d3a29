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
import { WorkerReply, WorkerRequest } from './worker-protocol';

async function run(request: WorkerRequest): Promise<WorkerReply> {
  const budgetMs = (): number => Math.max(1, request.options.timeLimitMs - (Date.now() - request.startedAtMs));
  const result =
    request.backend === 'highs'
      ? solveWithHighs(await loadHighs(), request.model, request.options, budgetMs())
      : request.backend === 'glpk'
        ? solveWithGlpk(await loadGlpk(), request.model, request.options, budgetMs())
        : solveWithJslp(request.model, request.options, budgetMs());
  const { values, ...rest } = result;
  return { ok: true, result: rest, values: values ? [...values] : undefined };
}

run(workerData as WorkerRequest).then(
  (reply) => parentPort?.postMessage(reply),
  (error: unknown) => parentPort?.postMessage({ ok: false, error: error instanceof Error ? error.stack ?? error.message : String(error) } satisfies WorkerReply),
);
