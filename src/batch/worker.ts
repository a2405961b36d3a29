/**
 * Worker-thread entry for `mosaic batch`: runs one case at a time with the compiled planner and posts
 * its outcome. It writes nothing to disk; the main thread alone appends to results.jsonl.
 */
import { parentPort } from 'worker_threads';
import { runCase, type CaseJob, type CaseOutcome } from './run-case';

export type ToWorker = { readonly type: 'run'; readonly job: CaseJob };
export type FromWorker = { readonly type: 'ready' } | { readonly type: 'done'; readonly id: string; readonly outcome: CaseOutcome };

if (parentPort) {
  const port = parentPort;
  port.on('message', (msg: ToWorker) => {
    if (msg.type !== 'run') return;
    void runCase(msg.job).then((outcome) => port.postMessage({ type: 'done', id: msg.job.id, outcome } satisfies FromWorker));
  });
  port.postMessage({ type: 'ready' } satisfies FromWorker);
}
