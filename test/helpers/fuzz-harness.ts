import * as path from 'path';
import { Worker } from 'worker_threads';
import type { FuzzJob, FuzzReply } from './fuzz-worker';

type JobInput = FuzzJob extends infer J ? (J extends { id: number } ? Omit<J, 'id'> : never) : never;

/**
 * Runs fuzz cases one at a time in a worker thread, each under a wall-clock budget enforced here: a case
 * that overruns is a hang; the worker is terminated and a fresh one takes the next case.
 */
export class FuzzHarness {
  private worker: Worker | undefined;
  private next = 0;

  constructor(private readonly budgetMs: number) {}

  private start(): Worker {
    const w = new Worker(path.join(__dirname, 'fuzz-worker.js'), { stdout: true, stderr: true });
    // Whatever escapes the capture (a native addon's printf) is drained, not shown.
    w.stdout.resume();
    w.stderr.resume();
    return w;
  }

  run(job: JobInput): Promise<FuzzReply | 'hang'> {
    const worker = (this.worker ??= this.start());
    const id = this.next++;
    return new Promise((resolve) => {
      const done = (r: FuzzReply | 'hang') => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        resolve(r);
      };
      const onMessage = (m: FuzzReply) => {
        if (m.id === id) done(m);
      };
      const onError = (err: Error) => {
        this.worker = undefined;
        done({ id, status: 1, stdout: '', stderr: `worker died: ${err.stack ?? err.message}`, warnings: [], planProblems: [], plansChecked: 0 });
      };
      const onExit = (code: number) => {
        this.worker = undefined;
        done({ id, status: 1, stdout: '', stderr: `worker exited with ${code} (process.exit in the CLI?)`, warnings: [], planProblems: [], plansChecked: 0 });
      };
      const timer = setTimeout(() => {
        this.worker = undefined;
        worker.off('exit', onExit);
        void worker.terminate();
        done('hang');
      }, this.budgetMs);
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      worker.postMessage({ ...job, id });
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}
