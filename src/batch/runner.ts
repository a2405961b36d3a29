import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { MosaicError } from '../errors';
import { makeOutputDir } from '../io/output-path';
import { describeCase, inShard, loadManifest, type Manifest, type ManifestCase, type Shard } from './manifest';
import { Progress } from './progress';
import { writeReport } from './report';
import type { CaseJob, CaseOutcome } from './run-case';
import { acquireLock, readState, ResultsLog, shardText, stateFromManifest, writeState, type BatchState, type CaseResult } from './store';
import type { FromWorker } from './worker';

export type BatchOptions = {
  readonly manifest: string;
  readonly outDir: string;
  /** Worker threads; default: the number of cores. */
  readonly workers?: number;
  readonly force?: boolean;
  readonly shard?: Shard | null;
  /** Progress output (stderr in the CLI); a TTY gets a live bar. */
  readonly progress?: NodeJS.WritableStream & { isTTY?: boolean };
};

export type BatchSummary = {
  readonly dir: string;
  readonly manifestHash: string;
  readonly shard: Shard | null;
  /** Cases of this shard (all cases without --shard). */
  readonly total: number;
  /** Finished before this run (resumed). */
  readonly skipped: number;
  /** Finished by this run. */
  readonly ran: number;
  readonly ok: number;
  readonly failed: number;
  readonly remaining: number;
  /** How the run ended: complete, or stopped by a signal (running cases finished or abandoned). */
  readonly stoppedBy?: 'interrupt' | 'terminate';
  readonly abandoned: number;
  readonly wallMs: number;
  readonly workers: number;
  readonly files: readonly string[];
};

/** Lets the caller stop a batch: `finish` lets running cases finish, `abandon` drops them (not recorded). */
export type BatchControl = { stop(mode: 'finish' | 'abandon', reason?: 'interrupt' | 'terminate'): void };

export const WORKER_PATH = path.join(__dirname, 'worker.js');

export const defaultWorkers = (): number => (typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length) || 1;

/**
 * Wall-clock budget for a case before it is abandoned: three times the time limit (the ILP's budget; seeding,
 * pattern enumeration and the final simulations come on top) plus the grace.
 */
export const HARD_LIMIT_FACTOR = 3;
export const hardLimitMs = (c: ManifestCase, graceSeconds: number): number => (HARD_LIMIT_FACTOR * c.case.timeLimitSeconds + graceSeconds) * 1000;

/** Checks DIR against the manifest and shard; writes batch.json on first use (or with --force). */
function prepareDir(dir: string, manifest: Manifest, shard: Shard | null, force: boolean): { state: BatchState; changed: boolean } {
  const state = stateFromManifest(manifest, shard);
  const old = readState(dir);
  const hasResults = fs.existsSync(path.join(dir, 'results.jsonl')) && fs.statSync(path.join(dir, 'results.jsonl')).size > 0;
  if (!old) {
    if (hasResults && !force) throw new MosaicError('E_USAGE', `${dir} holds results.jsonl but no batch.json: not a directory made by mosaic batch; give another -o DIR or --force`);
    writeState(dir, state);
    return { state, changed: hasResults };
  }
  const sameShard = JSON.stringify(old.shard ?? null) === JSON.stringify(shard ?? null);
  if (old.manifestHash === manifest.hash && sameShard) return { state: old, changed: false };
  if (!force) {
    if (old.manifestHash !== manifest.hash) {
      throw new MosaicError('E_USAGE', [
        `${dir} holds results of a different manifest (${old.manifest}, hash ${old.manifestHash}); ${manifest.file} now hashes to ${manifest.hash}`,
        `the cases changed; rerun with --force to keep the results of unchanged cases and run the rest, or give another -o DIR`,
      ]);
    }
    throw new MosaicError('E_USAGE', `${dir} holds shard ${shardText(old.shard)} but this run asks for ${shardText(shard)}; give one directory per shard (or --force)`);
  }
  writeState(dir, state);
  return { state, changed: true };
}

/**
 * Runs (or resumes) a batch: the manifest's cases (or one shard of them) on a pool of worker threads,
 * each finished case appended to DIR/results.jsonl as one line; then DIR/summary.csv and DIR/report.html.
 * Typed errors for bad input; case failures are results. Never exits the process.
 */
export async function runBatch(options: BatchOptions, onControl?: (control: BatchControl) => void): Promise<BatchSummary> {
  const started = Date.now();
  const manifest = loadManifest(options.manifest);
  const shard = options.shard ?? null;
  const dir = options.outDir;
  const workers = Math.max(1, Math.floor(options.workers ?? defaultWorkers()));
  makeOutputDir(dir, '-o');
  const release = acquireLock(dir);
  try {
    const { state, changed } = prepareDir(dir, manifest, shard, options.force ?? false);
    const selected = manifest.cases.filter((c) => inShard(c.id, shard));
    const selectedIds = new Set(selected.map((c) => c.id));
    const log = ResultsLog.open(dir, changed ? (r) => selectedIds.has(r.id) : undefined);
    const done = new Map<string, CaseResult>(log.existing.filter((r) => selectedIds.has(r.id)).map((r) => [r.id, r]));
    const pending = selected.filter((c) => !done.has(c.id));
    const stream = options.progress ?? process.stderr;
    const progress = new Progress(stream, selected.length, done.size, [...done.values()].filter((r) => r.status === 'failed').length);
    if (log.repairedBytes > 0) progress.message(`cut off a partial last line (${log.repairedBytes} bytes) left by a killed run`);
    if (done.size > 0 && pending.length > 0) progress.message(`resuming: ${done.size} of ${selected.length} cases already done`);

    let ran = 0;
    let stoppedBy: BatchSummary['stoppedBy'];
    let abandoned = 0;
    try {
      const r = await runPool(pending, Math.min(workers, Math.max(1, pending.length)), manifest.graceSeconds, (c, outcome) => {
        const result: CaseResult = {
          id: c.id,
          case: c.case,
          status: outcome.status,
          ...(outcome.status === 'failed' ? { error: outcome.error } : { summary: outcome.summary }),
          planningMs: outcome.planningMs,
          finishedAt: new Date().toISOString(),
        };
        log.append(result);
        done.set(c.id, result);
        ran++;
        progress.caseDone({ ok: outcome.status === 'ok', label: describeCase(c.case), ms: outcome.planningMs, ...(outcome.status === 'failed' ? { reason: `${outcome.error.code}: ${outcome.error.message.slice(0, 200)}` } : {}) });
      }, (control) => {
        onControl?.({
          stop: (mode, reason = 'interrupt') => {
            if (!control.stop(mode)) return; // the pool had already finished
            stoppedBy ??= reason;
            progress.setNote(mode === 'finish' ? 'stopping: letting running cases finish' : 'stopping: abandoning running cases');
          },
        });
      });
      abandoned = r.abandoned;
    } finally {
      log.close();
      progress.finish();
    }
    const files = writeReport(dir, state, [...done.values()]);
    const results = [...done.values()];
    return {
      dir,
      manifestHash: manifest.hash,
      shard,
      total: selected.length,
      skipped: selected.length - pending.length,
      ran,
      ok: results.filter((r) => r.status === 'ok').length,
      failed: results.filter((r) => r.status === 'failed').length,
      remaining: selected.length - done.size,
      ...(stoppedBy ? { stoppedBy } : {}),
      abandoned,
      wallMs: Date.now() - started,
      workers,
      files: [path.join(dir, 'results.jsonl'), ...files],
    };
  } finally {
    release();
  }
}

type Slot = {
  worker: Worker;
  ready: Promise<void>;
  isReady: boolean;
  job?: ManifestCase;
  startedAt: number;
  timer?: NodeJS.Timeout;
  /** Set once the slot's worker is being replaced or retired; its events are ignored. */
  dead: boolean;
};

/**
 * A pool of worker threads handing out one case at a time. A case still running at its hard limit is
 * abandoned (worker terminated, recorded as E_TIME_LIMIT) and its worker replaced; a worker that dies
 * records its case as E_INTERNAL. `finish` stops handing out cases; `abandon` also terminates running ones.
 */
function runPool(
  jobs: readonly ManifestCase[],
  size: number,
  graceSeconds: number,
  onOutcome: (c: ManifestCase, outcome: CaseOutcome) => void,
  onControl: (control: { stop(mode: 'finish' | 'abandon'): boolean }) => void,
): Promise<{ abandoned: number }> {
  return new Promise((resolve, reject) => {
    const queue = [...jobs];
    const slots = new Set<Slot>();
    let stopping = false;
    let abandoned = 0;
    let settled = false;
    let startFailures = 0;

    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      for (const s of slots) retire(s);
      reject(err);
    };
    const maybeDone = () => {
      if (settled) return;
      if ([...slots].some((s) => s.job)) return;
      if (!stopping && queue.length > 0) return;
      settled = true;
      for (const s of [...slots]) retire(s);
      resolve({ abandoned });
    };
    const retire = (s: Slot) => {
      s.dead = true;
      if (s.timer) clearTimeout(s.timer);
      slots.delete(s);
      void s.worker.terminate();
    };
    const record = (s: Slot, outcome: CaseOutcome) => {
      const job = s.job!;
      if (s.timer) clearTimeout(s.timer);
      s.job = undefined;
      try {
        onOutcome(job, outcome);
      } catch (err) {
        fail(err);
      }
    };
    const replace = (s: Slot) => {
      retire(s);
      if (!stopping && queue.length > 0) feed(spawn());
    };
    const spawn = (): Slot => {
      const worker = new Worker(WORKER_PATH);
      let markReady: () => void = () => {};
      const slot: Slot = { worker, ready: new Promise<void>((r) => (markReady = r)), isReady: false, startedAt: 0, dead: false };
      slots.add(slot);
      worker.on('message', (m: FromWorker) => {
        if (slot.dead) return;
        if (m.type === 'ready') {
          slot.isReady = true;
          startFailures = 0;
          markReady();
        }
        else if (m.type === 'done' && slot.job && m.id === slot.job.id) {
          record(slot, m.outcome);
          feed(slot);
        }
      });
      const died = (why: string) => {
        if (slot.dead) return;
        if (!slot.isReady) {
          // A worker that cannot start (say, dist/ rebuilt under it) has run nothing: put its case back.
          if (slot.job) queue.unshift(slot.job);
          slot.job = undefined;
          if (++startFailures >= 3) {
            fail(new MosaicError('E_INTERNAL', `worker threads fail to start (${WORKER_PATH}): ${why}; is dist/ built (npm run build)?`));
            return;
          }
        }
        if (slot.job) record(slot, { status: 'failed', error: { code: 'E_INTERNAL', message: `worker died: ${why}` }, planningMs: Date.now() - slot.startedAt });
        replace(slot);
        maybeDone();
      };
      worker.on('error', (err) => died(err?.stack?.split('\n').slice(0, 3).join(' | ') ?? String(err)));
      worker.on('exit', (code) => died(`exit code ${code}`));
      return slot;
    };
    const feed = (s: Slot) => {
      if (settled || s.dead) return;
      if (stopping || queue.length === 0) {
        retire(s);
        maybeDone();
        return;
      }
      const job = queue.shift()!;
      s.job = job;
      void s.ready.then(() => {
        if (s.dead || s.job !== job) return;
        s.startedAt = Date.now();
        const limit = hardLimitMs(job, graceSeconds);
        s.timer = setTimeout(() => {
          if (s.dead || s.job !== job) return;
          record(s, {
            status: 'failed',
            error: { code: 'E_TIME_LIMIT', message: `still running after ${(limit / 1000).toFixed(0)} s (time limit ${job.case.timeLimitSeconds} s × ${HARD_LIMIT_FACTOR} + ${graceSeconds} s grace): abandoned` },
            planningMs: Date.now() - s.startedAt,
          });
          replace(s);
          maybeDone();
        }, limit);
        const toWorker: { type: 'run'; job: CaseJob } = { type: 'run', job: { id: job.id, case: job.case, modelPath: job.modelPath, clusterPath: job.clusterPath } };
        s.worker.postMessage(toWorker);
      });
    };

    onControl({
      stop(mode) {
        if (settled) return false;
        stopping = true;
        queue.length = 0;
        if (mode === 'abandon') {
          for (const s of [...slots]) {
            if (s.job) {
              abandoned++;
              s.job = undefined;
            }
            retire(s);
          }
        }
        maybeDone();
        return true;
      },
    });
    if (queue.length === 0) {
      settled = true;
      resolve({ abandoned });
      return;
    }
    for (let i = 0; i < size; i++) feed(spawn());
  });
}
