/**
 * Seeded random tiny instances and random valid plans, for the bound-validity property test and the
 * brute-force exactness test (src/plan/exact/README.md, "How it is tested").
 */

import { planMemoryBytes } from '../../src/perf/memory';
import type { PerfModel } from '../../src/perf/perf-model';
import { quotaLevels, smsFor } from '../../src/perf/timing';
import type { PlanGpu, PlanReplica, PlanSlot } from '../../src/spec/plan';
import type { Problem } from '../../src/spec/problem';
import type { ClusterSpec, ModelSpec, ModuleSpec } from '../../src/spec/types';
import { rng } from './fixtures';

export type Instance = { readonly seed: number; readonly model: ModelSpec; readonly cluster: ClusterSpec };

const pick = <T>(random: () => number, xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];

/**
 * ≤ 4 modules in a random DAG (explicit shapes whose GEMMs fill from a few to all SMs), 2–4 GPUs on
 * 1–2 nodes, 3–5 quota levels, 1–3 microbatches per GPU, ZeRO 0–3, gradient buckets from none to many,
 * and a memory that binds in about a third of the instances.
 */
export function tinyInstance(seed: number): Instance {
  const random = rng(seed);
  const count = 2 + Math.floor(random() * 3);
  const modules: ModuleSpec[] = [];
  for (let i = 0; i < count; i++) {
    const inputs = i === 0 ? [] : modules.filter(() => random() < 0.6).map((m) => m.name);
    if (i > 0 && inputs.length === 0) inputs.push(modules[Math.floor(random() * i)].name);
    const params = Math.round(1e6 * (1 + random() * 400));
    modules.push({
      name: `m${i}`,
      kind: i === count - 1 ? 'llm' : 'modality-encoder',
      arch: {
        type: 'explicit',
        params,
        forwardFlopsPerSample: Math.round(1e9 * (0.5 + random() * 40)),
        activationBytesPerSample: Math.round(1e7 * (1 + random() * 50)),
        gemmRowsPerSample: pick(random, [16, 64, 128, 512]),
        gemmCols: pick(random, [128, 256, 1024]),
      },
      trainable: random() < 0.7,
      inputs,
      outputElementsPerSample: Math.round(1e4 * (1 + random() * 100)),
      source: 'random test instance',
    });
  }
  const levels = 3 + Math.floor(random() * 3);
  const nodes = random() < 0.35 ? 2 : 1;
  const gpusPerNode = nodes === 2 ? (random() < 0.5 ? 1 : 2) : 2 + Math.floor(random() * 3);
  const gpus = nodes * gpusPerNode;
  const micro = pick(random, [1, 2, 4]);
  const microbatches = gpus * (1 + Math.floor(random() * 3));
  const model: ModelSpec = {
    name: `tiny-${seed}`,
    description: 'random tiny instance',
    precision: 'bf16',
    optimizer: { name: 'adamw', stateBytesPerParam: 12, zeroStage: pick(random, [0, 1, 2, 3] as const) },
    batch: { global: micro * microbatches, micro },
    activationCheckpointing: random() < 0.3,
    modules,
    sources: ['test'],
  };
  const cluster: ClusterSpec = {
    name: `tiny-cluster-${seed}`,
    description: 'random tiny cluster',
    device: 'gpu',
    nodes,
    gpusPerNode,
    gpu: {
      name: 'tiny-gpu',
      smCount: 8 * levels,
      smGranularity: { min: 8, step: 8 },
      peakTflops: 50 + Math.floor(random() * 100),
      hbmGBps: 500 + Math.floor(random() * 1500),
      // Binding in about a third of the instances: a little more than the largest module's state, or plenty.
      memoryGiB: random() < 0.35 ? Math.max(2, Math.ceil((Math.max(...modules.map((m) => (m.arch as { params: number }).params)) * 18) / 2 ** 30 + 1.5)) : 80,
      gemmTile: 128,
    },
    links: { intraNodeGBps: 100 + Math.floor(random() * 300), interNodeGBps: 5 + Math.floor(random() * 40), latencyUs: Math.floor(random() * 10) },
  };
  // Gradient buckets (drawn last, so the rest of each seed's instance is what it was): DDP's default
  // 25 MiB when unset, one all-reduce after the last backward at 0, or many small buckets.
  const bucketMiB = pick(random, [undefined, 0, 2, 25, 100]);
  if (bucketMiB !== undefined) return { seed, model: { ...model, optimizer: { ...model.optimizer, gradientBucketMiB: bucketMiB } }, cluster };
  return { seed, model, cluster };
}

/**
 * A random valid plan (memory aside): every GPU gets 0–3 slots on the quota grid, each slot one to all
 * modules (a module may sit in several slots of a GPU); every module is placed at least once; the
 * microbatches of each module are split at random with at least one per replica.
 */
export function randomPlan(problem: Problem, random: () => number): { gpus: PlanGpu[]; replicas: PlanReplica[] } | undefined {
  const { model, cluster, microbatches } = problem;
  const levels = quotaLevels(cluster).map((q) => smsFor(cluster, q));
  const total = problem.gpuCount;
  const names = model.modules.map((m) => m.name);
  const gpus: PlanGpu[] = [];
  const hosts = new Map<string, string[]>(names.map((n) => [n, []]));
  for (let g = 0; g < total; g++) {
    const slots: PlanSlot[] = [];
    let free = cluster.gpu.smCount;
    const want = Math.floor(random() * 4);
    for (let k = 0; k < want; k++) {
      const fits = levels.filter((l) => l <= free);
      if (fits.length === 0) break;
      const sms = pick(random, fits);
      free -= sms;
      const mods = names.filter(() => random() < 0.5);
      if (mods.length === 0) mods.push(pick(random, names));
      const id = `g${g}.s${slots.length}`;
      slots.push({ id, quotaFraction: sms / cluster.gpu.smCount, smCount: sms, modules: mods });
      for (const m of mods) hosts.get(m)!.push(id);
    }
    gpus.push({ id: g, node: problem.nodeOf(g), slots });
  }
  for (const n of names) if (hosts.get(n)!.length === 0 || hosts.get(n)!.length > microbatches) return undefined;
  const replicas: PlanReplica[] = [];
  for (const n of names) {
    const h = hosts.get(n)!;
    const counts = h.map(() => 1);
    for (let k = h.length; k < microbatches; k++) counts[Math.floor(random() * h.length)]++;
    h.forEach((slot, i) => replicas.push({ module: n, index: i, slot, samples: counts[i] * model.batch.micro }));
  }
  return { gpus, replicas };
}

/** Up to `count` random valid plans that fit in the GPUs' memory, from at most `maxTries` draws. */
export function* randomFittingPlans(perf: PerfModel, random: () => number, count: number, maxTries = 20000): Generator<{ gpus: PlanGpu[]; replicas: PlanReplica[] }> {
  for (let k = 0, tries = 0; k < count && tries < maxTries; tries++) {
    const plan = randomPlan(perf, random);
    if (!plan || Math.max(...planMemoryBytes(perf, plan.gpus, plan.replicas)) > perf.capacityBytes) continue;
    k++;
    yield plan;
  }
}

/** A tiny single-node instance small enough for `bruteForcePlans`: 2 GPUs, 2–3 modules, 3 quota levels, 2–4 microbatches. */
export function bruteInstance(seed: number): Instance {
  const base = tinyInstance(seed);
  const random = rng(seed * 7919);
  const modules = base.model.modules.slice(0, random() < 0.7 ? 2 : 3).map((m, i, all) => ({ ...m, inputs: m.inputs.filter((n) => all.some((o) => o.name === n)), ...(i > 0 && m.inputs.every((n) => !all.some((o) => o.name === n)) ? { inputs: [all[0].name] } : {}) }));
  const microbatches = modules.length === 3 ? 2 + Math.floor(random() * 2) : 2 + Math.floor(random() * 3);
  const micro = base.model.batch.micro;
  return {
    seed,
    model: { ...base.model, modules, batch: { global: micro * microbatches, micro } },
    cluster: { ...base.cluster, nodes: 1, gpusPerNode: 2, gpu: { ...base.cluster.gpu, smCount: 24 } },
  };
}

/**
 * Cluster shapes of the exactness test: every module count, GPU count (2–4), node count (1–2) and number
 * of quota levels (3–5) the issue names, in the combinations whose full space the planner enumerates
 * and brute force covers in seconds (the space grows as (2^modules × levels^slots)^GPUs).
 */
const EXACT_SHAPES: readonly { readonly modules: number; readonly nodes: number; readonly gpusPerNode: number; readonly levels: readonly number[] }[] = [
  { modules: 2, nodes: 1, gpusPerNode: 2, levels: [3, 4, 5] },
  { modules: 2, nodes: 2, gpusPerNode: 1, levels: [3, 4, 5] },
  { modules: 2, nodes: 1, gpusPerNode: 3, levels: [3, 4] },
  { modules: 2, nodes: 1, gpusPerNode: 4, levels: [3] },
  { modules: 2, nodes: 2, gpusPerNode: 2, levels: [3] },
  { modules: 3, nodes: 1, gpusPerNode: 2, levels: [3, 4] },
  { modules: 3, nodes: 2, gpusPerNode: 1, levels: [3, 4] },
  { modules: 3, nodes: 1, gpusPerNode: 3, levels: [3] },
  { modules: 4, nodes: 1, gpusPerNode: 2, levels: [3] },
  { modules: 4, nodes: 2, gpusPerNode: 1, levels: [3] },
];

/**
 * A tiny instance for the brute-force exactness test: `tinyInstance`'s modules, memory, links and
 * buckets on one of EXACT_SHAPES, with 2–4 microbatches.
 */
export function exactInstance(seed: number): Instance {
  const base = tinyInstance(seed);
  const random = rng(seed * 104729);
  const shapes = EXACT_SHAPES.filter((s) => s.modules <= base.model.modules.length);
  const shape = pick(random, shapes);
  const modules = base.model.modules.slice(0, shape.modules);
  const levels = pick(random, shape.levels);
  const microbatches = 2 + Math.floor(random() * (shape.modules === 4 ? 2 : 3));
  const micro = base.model.batch.micro;
  return {
    seed,
    model: { ...base.model, modules, batch: { global: micro * microbatches, micro } },
    cluster: { ...base.cluster, nodes: shape.nodes, gpusPerNode: shape.gpusPerNode, gpu: { ...base.cluster.gpu, smCount: 8 * levels } },
  };
}
