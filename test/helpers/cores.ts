/**
 * CPU core ids for engine tests, taken from the set the addon reports this process may use
 * (`cpuInfo().allowedCores`: affinity mask, cgroup/cpuset, Slurm) instead of hard-coded ids, so the
 * tests hold on a 64-core runner, under Slurm and on a 1-core container alike.
 */
import { loadNative } from '../../src/engine/native';

export function allowedCores(): readonly number[] {
  const r = loadNative();
  if (!r.ok) throw new Error(r.reason);
  return r.binding.cpuInfo().allowedCores;
}

/** The first `n` usable cores; skips the calling test (with the reason) where fewer exist. */
export function usableCores(ctx: Mocha.Context, n: number): number[] {
  const all = allowedCores();
  if (all.length < n) ctx.skip();
  return all.slice(0, n);
}

/** A core id this process may not use: one past the largest allowed id. */
export function unusableCore(): number {
  return Math.max(...allowedCores()) + 1;
}
