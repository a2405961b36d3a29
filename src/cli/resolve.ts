import * as fs from 'fs';
import * as path from 'path';
import { REPO_ROOT } from '../spec/schemas';
import { loadCluster, loadModel, loadProfile } from '../spec/load';
import { localCpuCluster } from '../spec/local-cpu';
import type { ClusterSpec, ModelSpec, Profile } from '../spec/types';

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
