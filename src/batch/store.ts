import * as fs from 'fs';
import * as path from 'path';
import { inputError, MosaicError } from '../errors';
import { writeFileAtomic } from '../io/atomic-write';
import { fsErrorWords, injectedFault } from '../io/output-path';
import type { BatchCase, Manifest, Shard } from './manifest';
import type { CaseError, CaseSummary } from './run-case';

/** One line of results.jsonl. */
export type CaseResult = {
  readonly id: string;
  readonly case: BatchCase;
  readonly status: 'ok' | 'failed';
  readonly error?: CaseError;
  readonly summary?: CaseSummary;
  /** Wall-clock time of the case in its worker (or until it was abandoned), ms. */
  readonly planningMs: number;
  readonly finishedAt: string;
};

/** DIR/batch.json: what the directory holds results for. */
export type BatchState = {
  readonly version: 1;
  readonly manifest: string;
  readonly name?: string;
  readonly manifestHash: string;
  readonly graceSeconds: number;
  /** null: every case of the manifest. */
  readonly shard: Shard | null;
  /** Every case of the manifest (not only this shard's), in manifest order, so that merge can check completeness. */
  readonly cases: readonly { readonly id: string; readonly case: BatchCase }[];
  readonly mergedFrom?: readonly string[];
};

export const RESULTS_FILE = 'results.jsonl';
export const STATE_FILE = 'batch.json';
export const LOCK_FILE = '.batch.lock';

export function stateFromManifest(manifest: Manifest, shard: Shard | null): BatchState {
  return {
    version: 1,
    manifest: path.resolve(manifest.file),
    ...(manifest.name !== undefined ? { name: manifest.name } : {}),
    manifestHash: manifest.hash,
    graceSeconds: manifest.graceSeconds,
    shard,
    cases: manifest.cases.map((c) => ({ id: c.id, case: c.case })),
  };
}

export function readState(dir: string): BatchState | undefined {
  const file = path.join(dir, STATE_FILE);
  if (!fs.existsSync(file)) return undefined;
  let data: BatchState;
  try {
    data = JSON.parse(fs.readFileSync(file, 'utf8')) as BatchState;
  } catch (err) {
    throw inputError(`${file}: cannot read the batch state: ${(err as Error).message}`);
  }
  if (!data || data.version !== 1 || typeof data.manifestHash !== 'string' || !Array.isArray(data.cases)) throw inputError(`${file}: not a mosaic batch state (version 1)`);
  return data;
}

export const writeState = (dir: string, state: BatchState): void => writeFileAtomic(path.join(dir, STATE_FILE), JSON.stringify(state, null, 2) + '\n');

export const shardText = (s: Shard | null): string => (s ? `${s.index}/${s.count}` : 'all cases');

/**
 * Parses results.jsonl. A trailing line without its newline is a write cut short by a kill: it is not
 * a result (`partialBytes` says how long it is). Any other line that does not parse is corruption,
 * reported with its line number. A case recorded twice keeps its first line.
 */
export function parseResults(file: string, text: string): { results: CaseResult[]; completeBytes: number; partialBytes: number; duplicates: number } {
  const buf = Buffer.from(text, 'utf8');
  const lastNl = buf.lastIndexOf(0x0a);
  const completeBytes = lastNl + 1;
  const complete = buf.subarray(0, completeBytes).toString('utf8');
  const results: CaseResult[] = [];
  const seen = new Set<string>();
  let duplicates = 0;
  const lines = complete.split('\n');
  lines.pop(); // after the last newline
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    let r: CaseResult;
    try {
      r = JSON.parse(line) as CaseResult;
    } catch {
      throw inputError(`${file}:${i + 1}: corrupt result line (not JSON); remove it to rerun that case`);
    }
    if (!r || typeof r.id !== 'string' || (r.status !== 'ok' && r.status !== 'failed')) throw inputError(`${file}:${i + 1}: not a batch result (expected {"id", "status", ...})`);
    if (seen.has(r.id)) {
      duplicates++;
      continue;
    }
    seen.add(r.id);
    results.push(r);
  }
  return { results, completeBytes, partialBytes: buf.length - completeBytes, duplicates };
}

/** Reads a directory's results without changing anything (for merge and reports). */
export function readResults(dir: string): ReturnType<typeof parseResults> {
  const file = path.join(dir, RESULTS_FILE);
  if (!fs.existsSync(file)) return { results: [], completeBytes: 0, partialBytes: 0, duplicates: 0 };
  return parseResults(file, fs.readFileSync(file, 'utf8'));
}

/**
 * The append-only results file. Each result is one `write()` of one complete line on a descriptor opened
 * with O_APPEND, from the main thread only: a kill leaves whole lines and at most one partial line at
 * the end, which `open` cuts off before anything else is appended.
 */
export class ResultsLog {
  private constructor(
    readonly file: string,
    private fd: number,
    readonly existing: readonly CaseResult[],
    readonly repairedBytes: number,
  ) {}

  static open(dir: string, keep?: (r: CaseResult) => boolean): ResultsLog {
    const file = path.join(dir, RESULTS_FILE);
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    const parsed = parseResults(file, text);
    let results = parsed.results;
    if (keep && results.some((r) => !keep(r))) {
      // --force with a changed manifest: keep the results of cases still in it, atomically.
      results = results.filter(keep);
      writeFileAtomic(file, results.map((r) => JSON.stringify(r) + '\n').join(''));
    } else if (parsed.partialBytes > 0 || parsed.duplicates > 0) {
      if (parsed.duplicates > 0) writeFileAtomic(file, results.map((r) => JSON.stringify(r) + '\n').join(''));
      else fs.truncateSync(file, parsed.completeBytes);
    }
    let fd: number;
    try {
      fd = fs.openSync(file, 'a');
    } catch (err) {
      throw new MosaicError('E_OUTPUT', `${file}: cannot open for appending: ${fsErrorWords(err)}`);
    }
    return new ResultsLog(file, fd, results, parsed.partialBytes);
  }

  append(result: CaseResult): void {
    const line = Buffer.from(JSON.stringify(result) + '\n', 'utf8');
    const before = fs.fstatSync(this.fd).size;
    let written = 0;
    let failure: unknown;
    try {
      injectedFault('write', this.file);
      written = fs.writeSync(this.fd, line);
    } catch (err) {
      failure = err;
    }
    if (failure !== undefined || written !== line.length) {
      // A failed or short write (disk full): take the partial line back so the file stays whole lines.
      try {
        fs.ftruncateSync(this.fd, before);
      } catch {
        /* the resume cuts a partial last line off anyway */
      }
      const why = failure !== undefined ? fsErrorWords(failure) : `short write (${written} of ${line.length} bytes); is the disk full?`;
      throw new MosaicError('E_OUTPUT', `${this.file}: cannot append a result: ${why}`);
    }
  }

  close(): void {
    if (this.fd < 0) return;
    try {
      fs.fsyncSync(this.fd);
    } finally {
      fs.closeSync(this.fd);
      this.fd = -1;
    }
  }
}

/**
 * One `mosaic batch` per directory at a time: a lock file holding the pid. A lock left by a killed
 * process (its pid no longer runs) is taken over.
 */
export function acquireLock(dir: string): () => void {
  const file = path.join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      return () => {
        try {
          if (fs.readFileSync(file, 'utf8') === String(process.pid)) fs.rmSync(file, { force: true });
        } catch {
          /* already gone */
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new MosaicError('E_OUTPUT', `${dir}: cannot create the lock ${file}: ${fsErrorWords(err)}`);
      const pid = Number(fs.readFileSync(file, 'utf8'));
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new MosaicError('E_USAGE', `${dir} is in use by another mosaic batch (pid ${pid}, ${file}); wait for it or give another -o DIR`);
      }
      fs.rmSync(file, { force: true });
    }
  }
  throw new MosaicError('E_USAGE', `${dir}: cannot take the lock ${file}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
