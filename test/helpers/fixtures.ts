import * as path from 'path';
import * as fs from 'fs';
import type { ClusterSpec, ModelSpec, ModuleSpec } from '../../src/spec/types';

export const ROOT = path.resolve(__dirname, '../../..');
export const CLI = path.join(ROOT, 'dist/src/cli/main.js');

export const bundled = (kind: 'models' | 'clusters'): string[] =>
  fs.readdirSync(path.join(ROOT, 'datasets', kind)).filter((f) => f.endsWith('.json')).map((f) => path.join(ROOT, 'datasets', kind, f));

/** A small GPU: 40 SMs in partitions of 8, so five quota levels. */
export function tinyCluster(overrides: Partial<ClusterSpec> = {}): ClusterSpec {
  return {
    name: 'tiny',
    description: 'test cluster',
    device: 'gpu',
    nodes: 1,
    gpusPerNode: 2,
    gpu: { name: 'tiny-gpu', smCount: 40, smGranularity: { min: 8, step: 8 }, peakTflops: 100, hbmGBps: 1000, memoryGiB: 80, gemmTile: 128 },
    links: { intraNodeGBps: 100, interNodeGBps: 10, latencyUs: 0 },
    ...overrides,
  };
}

export function explicitModule(name: string, params: number, flops: number, inputs: string[] = [], trainable = true): ModuleSpec {
  return {
    name,
    kind: 'modality-encoder',
    arch: { type: 'explicit', params, forwardFlopsPerSample: flops, activationBytesPerSample: 1e6, gemmRowsPerSample: 256, gemmCols: 1024 },
    trainable,
    inputs,
    outputElementsPerSample: 1000,
    source: 'test',
  };
}

export function tinyModel(modules: ModuleSpec[], overrides: Partial<ModelSpec> = {}): ModelSpec {
  return {
    name: 'tiny',
    description: 'test model',
    precision: 'bf16',
    optimizer: { name: 'adamw', stateBytesPerParam: 12, zeroStage: 0 },
    batch: { global: 16, micro: 4 },
    activationCheckpointing: false,
    modules,
    sources: ['test'],
    ...overrides,
  };
}

/** The seeded PRNG every test shares (mulberry32), so random tests are deterministic on every machine. */
export { seededRandom as rng } from '../../src/util/seeded-random';

/**
 * Solver and planner time limits in tests whose assertions need the solve to finish (optimality,
 * exactness, the same results after a resume): a guard against a hang, never meant to strike, so the
 * outcome does not depend on how fast or loaded the machine is. Tests about time limits use seams
 * instead (a hanging worker, an injected never-ending batch case) and assert statuses, not durations.
 */
export const GUARD_SECONDS = 600;
export const GUARD_MS = GUARD_SECONDS * 1000;
