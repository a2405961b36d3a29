import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { inputError, MosaicError } from '../errors';
import { DEFAULT_OPTIONS } from '../plan/options';
import { checkBatch as checkBatchSize } from '../spec/check-model';
import { readJsonFile } from '../spec/json-file';
import { parseSpec } from '../spec/load';
import { REPO_ROOT } from '../spec/schemas';
import type { BatchManifestFile, BatchMethod, BatchSize, SolverName } from '../spec/types';

export const BATCH_METHODS: readonly BatchMethod[] = ['heuristic', 'baseline', 'ilp', 'all', 'compare'];

/**
 * One case, normalized: the key its id is hashed from. Model and cluster are the manifest's references,
 * normalized (a bundled name, or a path relative to the manifest's folder in POSIX form), so that the same
 * manifest gives the same ids on every machine. `batch` null means the model's own batch settings;
 * `solver` null for methods that run no ILP (heuristic, baseline).
 */
export type BatchCase = {
  readonly model: string;
  readonly cluster: string;
  readonly batch: BatchSize | null;
  readonly method: BatchMethod;
  readonly solver: SolverName | null;
  readonly timeLimitSeconds: number;
};

export type ManifestCase = {
  /** 16 hex digits of sha256 over the canonical JSON of `case`. */
  readonly id: string;
  readonly case: BatchCase;
  /** Absolute path of the model spec file. */
  readonly modelPath: string;
  /** Absolute path of the cluster spec file, or `local-cpu`. */
  readonly clusterPath: string;
};

export type Manifest = {
  readonly file: string;
  readonly name?: string;
  /** Every case, in manifest order (explicit cases, then the grid), duplicates removed. */
  readonly cases: readonly ManifestCase[];
  /** Hash of the sorted case ids and the grace: equal hashes mean the same set of cases. */
  readonly hash: string;
  readonly graceSeconds: number;
};

export type Shard = { readonly index: number; readonly count: number };

export const DEFAULT_TIME_LIMIT_SECONDS = 10;
export const DEFAULT_GRACE_SECONDS = 60;
const DEFAULT_METHOD: BatchMethod = 'all';
const DEFAULT_SOLVER: SolverName = DEFAULT_OPTIONS.solver;

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** The canonical JSON of a case: fixed key order, so equal cases hash equally. */
export function caseKey(c: BatchCase): string {
  return JSON.stringify({
    model: c.model,
    cluster: c.cluster,
    batch: c.batch ? { global: c.batch.global, micro: c.batch.micro } : null,
    method: c.method,
    solver: c.solver,
    timeLimitSeconds: c.timeLimitSeconds,
  });
}

export const caseId = (c: BatchCase): string => sha256(caseKey(c)).slice(0, 16);

/** `llava-1.5-7b on h100-1x8, 256/4, compare (glpk, 10 s)`: for progress lines and errors. */
export function describeCase(c: BatchCase): string {
  const batch = c.batch ? `${c.batch.global}/${c.batch.micro}` : 'model batch';
  const solver = c.solver ? `${c.solver}, ` : '';
  return `${c.model} on ${c.cluster}, ${batch}, ${c.method} (${solver}${c.timeLimitSeconds} s)`;
}

const isPathRef = (ref: string): boolean => ref.includes('/') || ref.includes('\\') || ref.endsWith('.json');

function bundled(kind: 'models' | 'clusters'): string[] {
  const dir = path.join(REPO_ROOT, 'datasets', kind);
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort() : [];
}

/**
 * Normalizes a model or cluster reference and resolves it to a file. A path resolves against the
 * manifest's folder; a bare name must be bundled (or `local-cpu` for a cluster). Unknown bundled names
 * are manifest errors; paths are read when the case runs, so a bad file fails that case only.
 */
function resolveRef(ref: string, kind: 'models' | 'clusters', manifestDir: string, pointer: string, file: string): { ref: string; resolved: string } {
  if (isPathRef(ref)) {
    const posix = ref.replace(/\\/g, '/');
    const normalized = path.posix.normalize(posix);
    const resolved = path.resolve(manifestDir, ref);
    // A path to a bundled spec is that bundled name: the same case gets the same id however it is
    // spelled, so listing it twice (by name and by path) does not run and report it twice.
    const bundledName = path.basename(resolved, '.json');
    if (path.dirname(resolved) === path.join(REPO_ROOT, 'datasets', kind) && bundled(kind).includes(bundledName)) {
      return { ref: bundledName, resolved: path.join(REPO_ROOT, 'datasets', kind, `${bundledName}.json`) };
    }
    return { ref: normalized, resolved };
  }
  if (kind === 'clusters' && ref === 'local-cpu') return { ref, resolved: 'local-cpu' };
  const names = bundled(kind);
  if (!names.includes(ref)) {
    throw inputError(`${file}: ${pointer}: no bundled ${kind === 'models' ? 'model' : 'cluster'} "${ref}" (bundled: ${[...names, ...(kind === 'clusters' ? ['local-cpu'] : [])].join(', ')}; a path needs a "/" or ".json")`);
  }
  return { ref, resolved: path.join(REPO_ROOT, 'datasets', kind, `${ref}.json`) };
}

/** Reads, validates (schema, then meaning) and expands a manifest. Throws E_INPUT with `FILE: /pointer: message` lines. */
export function loadManifest(file: string): Manifest {
  return parseManifest(readJsonFile(file), file);
}

export function parseManifest(data: unknown, file: string): Manifest {
  const raw = parseSpec<BatchManifestFile>('batch-manifest', data, file);
  const problems: string[] = [];
  if (!raw.cases && !raw.grid) problems.push(`${file}: /: no cases: give "cases" (a list), "grid" (a cross product) or both`);
  const checkBatch = (b: BatchSize | undefined, pointer: string) => {
    if (b) problems.push(...checkBatchSize(b.global, b.micro).map((p) => `${file}: ${pointer}: ${p.replace(/^\/batch[^:]*: /, '')}`));
  };
  raw.cases?.forEach((c, i) => checkBatch(c.batch, `/cases/${i}/batch`));
  raw.grid?.batches?.forEach((b, i) => checkBatch(b, `/grid/batches/${i}`));
  if (problems.length > 0) throw inputError(problems);

  const dir = path.dirname(path.resolve(file));
  const defaultLimit = raw.timeLimitSeconds ?? DEFAULT_TIME_LIMIT_SECONDS;
  const cases: ManifestCase[] = [];
  const seen = new Set<string>();
  const refProblems: string[] = [];
  const resolve = (ref: string, kind: 'models' | 'clusters', pointer: string) => {
    try {
      return resolveRef(ref, kind, dir, pointer, file);
    } catch (err) {
      if (err instanceof MosaicError) refProblems.push(...err.lines);
      else throw err;
      return undefined;
    }
  };
  const add = (model: ReturnType<typeof resolve>, cluster: ReturnType<typeof resolve>, batch: BatchSize | undefined, method: BatchMethod, solver: SolverName, timeLimitSeconds: number) => {
    if (!model || !cluster) return;
    const usesSolver = method === 'ilp' || method === 'all' || method === 'compare';
    const c: BatchCase = { model: model.ref, cluster: cluster.ref, batch: batch ? { global: batch.global, micro: batch.micro } : null, method, solver: usesSolver ? solver : null, timeLimitSeconds };
    const id = caseId(c);
    if (seen.has(id)) return;
    seen.add(id);
    cases.push({ id, case: c, modelPath: model.resolved, clusterPath: cluster.resolved });
  };

  raw.cases?.forEach((c, i) => {
    add(resolve(c.model, 'models', `/cases/${i}/model`), resolve(c.cluster, 'clusters', `/cases/${i}/cluster`), c.batch, c.method ?? DEFAULT_METHOD, c.solver ?? DEFAULT_SOLVER, c.timeLimitSeconds ?? defaultLimit);
  });
  const g = raw.grid;
  if (g) {
    const models = g.models.map((m, i) => resolve(m, 'models', `/grid/models/${i}`));
    const clusters = g.clusters.map((c, i) => resolve(c, 'clusters', `/grid/clusters/${i}`));
    const batches: readonly (BatchSize | undefined)[] = g.batches ?? [undefined];
    const overrides = raw.overrides ?? [];
    for (const [mi, model] of models.entries()) {
      for (const [ci, cluster] of clusters.entries()) {
        for (const batch of batches) {
          for (const method of g.methods ?? [DEFAULT_METHOD]) {
            for (const solver of g.solvers ?? [DEFAULT_SOLVER]) {
              let limit = g.timeLimitSeconds ?? defaultLimit;
              for (const o of overrides) {
                if (o.model !== undefined && o.model !== g.models[mi] && o.model !== model?.ref) continue;
                if (o.cluster !== undefined && o.cluster !== g.clusters[ci] && o.cluster !== cluster?.ref) continue;
                if (o.method !== undefined && o.method !== method) continue;
                if (o.solver !== undefined && o.solver !== solver) continue;
                limit = o.timeLimitSeconds;
              }
              add(model, cluster, batch, method, solver, limit);
            }
          }
        }
      }
    }
  }
  if (refProblems.length > 0) throw inputError([...new Set(refProblems)]);
  const graceSeconds = raw.graceSeconds ?? DEFAULT_GRACE_SECONDS;
  const hash = manifestHash(cases.map((c) => c.id), graceSeconds);
  return { file, ...(raw.name !== undefined ? { name: raw.name } : {}), cases, hash, graceSeconds };
}

/** Hash of a set of case ids (order-free) and the grace: what `batch.json` records and `merge` compares. */
export function manifestHash(ids: readonly string[], graceSeconds: number): string {
  return sha256(JSON.stringify({ cases: [...ids].sort(), graceSeconds })).slice(0, 32);
}

/** `i/n` with 1 ≤ i ≤ n. */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (!m) throw new MosaicError('E_USAGE', `--shard expects i/n (for example 2/8) but received "${text}"`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index < 1 || index > count) throw new MosaicError('E_USAGE', `--shard ${text}: shards are numbered 1 to n (n ≥ 1), for example 1/${Math.max(count, 2)}`);
  return { index, count };
}

/** Which shard (1-based) of `count` a case belongs to: by its id's hash, so not by manifest order. */
export function shardOf(id: string, count: number): number {
  return (parseInt(id.slice(0, 8), 16) % count) + 1;
}

export const inShard = (id: string, shard: Shard | null): boolean => !shard || shardOf(id, shard.count) === shard.index;
