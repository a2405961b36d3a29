/** What the benches share: the bundled spec files, command-line flags, and the batch scaled with the cluster. */
import * as fs from 'fs';
import * as path from 'path';
import { gpuCountOf } from '../src/spec/problem';
import type { ClusterSpec, ModelSpec } from '../src/spec/types';

export const root = path.resolve(__dirname, '../..');

/** Bundled spec files of a kind (`models`, `clusters`), sorted. */
export const bundledFiles = (kind: string): string[] =>
  fs.readdirSync(path.join(root, 'datasets', kind)).filter((f) => f.endsWith('.json')).sort().map((f) => path.join(root, 'datasets', kind, f));

/** The value after `--name` on the command line, if any. */
export const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

/** The model's global batch scaled with the cluster (model batch × GPUs / 8), so that large clusters have work. */
export function scaledBatch(base: ModelSpec, cluster: ClusterSpec): ModelSpec {
  const gpus = gpuCountOf(cluster);
  const global = Math.max(base.batch.global, Math.round((base.batch.global * gpus) / 8 / base.batch.micro) * base.batch.micro);
  return { ...base, batch: { ...base.batch, global } };
}
