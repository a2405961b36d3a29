/**
 * Worker-thread entry for `mosaic batch`: runs one case at a time with the compiled planner and posts
 * its outcome. It writes nothing to disk; the main thread alone appends to results.jsonl.
 */
import { parentPort } from 'worker_threads';
import { runCase, type CaseJob, type CaseOutcome } from './run-case';

export type ToWorker = { readonly type: 'run'; readonly job: CaseJob };
export type FromWorker = { readonly type: 'ready' } | { readonly type: 'done'; readonly id: string; readonly outcome: CaseOutcome };

/**
 * Test seam (test/batch.test.ts): a case whose model path contains MOSAIC_BATCH_TEST_HANG never
 * answers, so the hard-limit path (abandon, E_TIME_LIMIT, replace the worker) is tested without
 * depending on how fast the machine plans. Unset in normal use.
 */
const HANG = process.env['MOSAIC_BATCH_TEST_HANG'];

if (parentPort) {
  const port = parentPort;
  port.on('message', (msg: ToWorker) => {
    if (msg.type !== 'run') return;
    if (HANG && msg.job.modelPath.includes(HANG)) return;
    void runCase(msg.job).then((outcome) => port.postMessage({ type: 'done', id: msg.job.id, outcome } satisfies FromWorker));
  });
  port.postMessage({ type: 'ready' } satisfies FromWorker);
}
