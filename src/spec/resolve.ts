import * as fs from 'fs';
import * as path from 'path';
import { MosaicError } from '../errors';
import { REPO_ROOT } from './schemas';
import { checkBatch } from './check-model';
import { loadCluster, loadModel, loadProfile } from './load';
import { localCpuCluster } from './local-cpu';
import type { ClusterSpec, ModelSpec, Profile } from './types';

/** A path, or the name of a bundled file under datasets/<kind>/ (`llava-1.5-7b`, `h100-1x8`). */
function resolveSpecPath(arg: string, kind: 'models' | 'clusters' | 'profiles'): string {
  if (fs.existsSync(arg) || arg.includes('/') || arg.endsWith('.json')) return arg;
  const bundled = path.join(REPO_ROOT, 'datasets', kind, `${arg}.json`);
  return fs.existsSync(bundled) ? bundled : arg;
}

export function bundledNames(kind: 'models' | 'clusters'): string[] {
  const dir = path.join(REPO_ROOT, 'datasets', kind);
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, '')).sort() : [];
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
