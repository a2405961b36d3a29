import * as fs from 'fs';
import * as path from 'path';
import { inputError, MosaicError } from '../errors';
import { REPO_ROOT } from './schemas';
import { checkBatch } from './check-model';
import { loadCluster, loadModel, loadProfile } from './load';
import { localCpuCluster } from './local-cpu';
import { problemOf, type Problem } from './problem';
import type { ClusterSpec, ModelSpec, Profile } from './types';

/**
 * A path, or the name of a bundled file under datasets/<kind>/ (`llava-1.5-7b`, `h100-1x8`). A name or
 * path that is neither is an input error that lists the bundled names, nearest first ("did you mean").
 */
function resolveSpecPath(arg: string, kind: 'models' | 'clusters' | 'profiles'): string {
  if (fs.existsSync(arg)) return arg;
  const bundled = path.join(REPO_ROOT, 'datasets', kind, `${arg}.json`);
  if (!arg.includes('/') && !arg.endsWith('.json') && fs.existsSync(bundled)) return bundled;
  const names = bundledNames(kind);
  if (names.length === 0) return arg; // the loader says "no such file"
  const what = kind.replace(/s$/, '');
  const guess = nearestNames(path.basename(arg).replace(/\.json$/, ''), names);
  throw inputError(`${arg}: cannot read: no such file, nor a bundled ${what} of that name${guess.length > 0 ? `; did you mean ${guess.map((g) => `"${g}"`).join(' or ')}?` : ''} (bundled ${kind}: ${names.join(', ')})`);
}

export function bundledNames(kind: 'models' | 'clusters' | 'profiles'): string[] {
  const dir = path.join(REPO_ROOT, 'datasets', kind);
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, '')).sort() : [];
}

/** Edit distance between two strings (insertions, deletions, substitutions). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * The bundled names closest to `wanted`: those that contain it or share its pieces (`llava-7b` finds
 * `llava-1.5-7b`), else those within an edit distance of a third of its length; at most three.
 */
export function nearestNames(wanted: string, names: readonly string[]): string[] {
  const w = wanted.toLowerCase();
  if (w.length === 0) return [];
  const pieces = w.split(/[-_.]/).filter((p) => p.length > 0);
  const scored = names.map((n) => {
    const l = n.toLowerCase();
    const shared = pieces.filter((p) => l.split(/[-_.]/).includes(p)).length;
    const contains = l.includes(w) || w.includes(l);
    return { n, d: editDistance(w, l), match: contains || (pieces.length > 1 && shared === pieces.length) };
  });
  const matches = scored.filter((s) => s.match);
  const pool = matches.length > 0 ? matches : scored.filter((s) => s.d <= Math.max(2, Math.floor(w.length / 3)));
  return pool.sort((a, b) => a.d - b.d || a.n.localeCompare(b.n)).slice(0, 3).map((s) => s.n);
}

export const resolveModel = (arg: string): ModelSpec => loadModel(resolveSpecPath(arg, 'models'));
export const resolveCluster = (arg: string): ClusterSpec => (arg === 'local-cpu' ? localCpuCluster() : loadCluster(resolveSpecPath(arg, 'clusters')));
export const resolveProfile = (arg: string): Profile => loadProfile(resolveSpecPath(arg, 'profiles'));

/** Overrides the model's batch settings (from the command line or a suite). */
export function withBatch(model: ModelSpec, global?: number, micro?: number): ModelSpec {
  if (global === undefined && micro === undefined) return model;
  const batch = { global: global ?? model.batch.global, micro: micro ?? model.batch.micro };
  // A bad batch is an input error wherever it comes from (flags, manifests, specs): one code, one message.
  const problems = checkBatch(batch.global, batch.micro).map((p) => p.replace(/^\/batch[^:]*: /, ''));
  if (problems.length > 0) throw new MosaicError('E_INPUT', problems.join('; '));
  return { ...model, batch };
}

/**
 * A case as the commands and the batch runner name it: model and cluster (files or bundled names) and
 * the batch settings that override the model's, checked and resolved into one Problem.
 */
export function resolveProblem(modelArg: string, clusterArg: string, batch: { readonly global?: number; readonly micro?: number } = {}): Problem {
  return problemOf(withBatch(resolveModel(modelArg), batch.global, batch.micro), resolveCluster(clusterArg));
}
