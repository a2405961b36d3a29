/**
 * Executes a Plan on the CPU backend (DESIGN §5 "Training").
 *
 * Every slot of the plan becomes one engine context pinned to `smCount` cores (cores play the role of
 * SMs; GPU g of the plan gets the g-th block of `cluster.gpu.smCount` allowed cores, split by
 * {@link assignCpuCores}). Each module is compiled once ({@link compileModule}); each replica holds its
 * own weights and gradients, and each microbatch its own activations. Microbatches go to a module's
 * replicas as the simulator assigns them (`assignMicrobatches`: smooth weighted round-robin over
 * `replicas[].samples / micro`).
 *
 * One iteration is one task graph:
 * - forward F(m, k) per module and microbatch on the owning replica's context: copy the upstream
 *   outputs of microbatch k into the module's input (explicit per-sample copies between contexts,
 *   inputs concatenated in `inputs` order), then the forward ops, then the loss on sink modules;
 * - backward B(m, k) after F(m, k), after the backward of every consumer of m for microbatch k, and
 *   after B(m, k') for the replica's previous microbatch k' (a fixed accumulation order): gather dOutput
 *   from the consumers' dInput (or the loss), then the backward ops, accumulating gradients;
 * - one optimizer task per trainable module on its first replica's context, after all its backward
 *   tasks: sum the other replicas' gradients into the first replica's, in replica order (the
 *   data-parallel all-reduce, deterministic), one Adam step, then copy the weights to the other replicas.
 * Backward tasks are submitted before forward tasks, so a context prefers a ready backward (as the
 * simulator does). The objective is the mean over the global batch: the loss gradient of every
 * microbatch is scaled by micro/global.
 *
 * The loss and the data come from the model's objective (./objective.ts), so nothing here names a
 * module: the built-in model ({@link isBuiltinModel}) trains on its synthetic task with softmax
 * cross-entropy ({@link builtinObjective}); any other model is a shape-accurate replay: source modules
 * read seeded random data, sink modules get the gradient of mean(output²) ({@link MSE_TO_ZERO}), and
 * no loss is reported. Modules are compiled by the engine's one compile step ({@link compileModules}).
 */

import * as os from 'os';

import { MosaicError } from '../errors';
import { buildPerfModel } from '../perf/perf-model';
import { assignMicrobatches, simulateIteration } from '../perf/simulate';
import { validatePlan } from '../plan/validate';
import type { Plan } from '../spec/plan';
import type { ModelSpec, ModuleSpec } from '../spec/types';
import { topologicalOrder } from '../spec/check-model';
import { gpuCountOf, microbatchesOf } from '../spec/problem';
import { builtinObjective, builtinPrograms, isBuiltinModel, mixSeed, seededRandom } from './builtin-model';
import { MSE_TO_ZERO } from './objective';
import { assignCpuCores, loadNative, startGraph, type ContextSpec, type GraphResult, type TaskSpec } from './native';
import type { Op } from './ops';
import { compileModule, compileModules, optimizerOpsForStep, remapOp, type ModuleProgram } from './program';

export type TrainOptions = {
  readonly iterations: number;
  readonly signal?: AbortSignal;
  readonly onIteration?: (r: IterationReport) => void;
  /** Seeds the weights and the data. Default 1. */
  readonly seed?: number;
  /**
   * Shrinks the model for a replay (see scaleModule in program.ts). Default: 1 for the built-in model,
   * else {@link autoScale}. The built-in model trains for real only at scale 1; another scale replays it.
   */
  readonly scale?: number;
};

export type IterationReport = {
  readonly iteration: number;
  /** Wall time of the iteration's task graph. */
  readonly wallMs: number;
  /**
   * The whole iteration as the JS loop sees it: zeroing gradients, synthetic data, TS validation of the
   * graph (≈ 3 µs per op), N-API decode and the engine run. `wallMs` is the engine's part.
   */
  readonly hostMs: number;
  /** Mean loss over the global batch (built-in model only). */
  readonly loss?: number;
  /** Time the module's tasks ran, summed over its replicas. */
  readonly busyMsByModule: Readonly<Record<string, number>>;
  /** busyMs / (wallMs · replicas): the share of the iteration the module's replicas computed. */
  readonly utilisationByModule: Readonly<Record<string, number>>;
};

export type TrainReport = {
  /** Completed iterations. */
  readonly iterations: readonly IterationReport[];
  readonly meanIterationMs: number;
  /** The simulator's iteration time for the plan (for the scaled model when scale < 1). */
  readonly predictedIterationMs: number;
  /** true when the signal stopped the run; an interrupted iteration is not in `iterations` (its weights may be partly updated). */
  readonly cancelled: boolean;
  /** Weights of each module (first replica), in program parameter order. */
  readonly finalWeights?: ReadonlyMap<string, Float32Array[]>;
  /** The scale the model ran at. */
  readonly scale: number;
  /** The simulator's busy time per module (busiest replica) for the same plan and scale. */
  readonly predictedBusyMsByModule: Readonly<Record<string, number>>;
  /** Forward + backward FLOPs of one iteration as compiled. */
  readonly flopsPerIteration: number;
  readonly builtin: boolean;
};

/** FLOPs per iteration {@link autoScale} aims for (about 0.1–0.3 s on 2 cores). */
export const AUTO_SCALE_FLOPS = 4e9;
const SCALES = [1, 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625];

type Compiled = {
  readonly model: ModelSpec;
  readonly order: readonly string[];
  readonly microbatches: number;
  readonly programs: ReadonlyMap<string, ModuleProgram>;
  readonly builtin: boolean;
  readonly scale: number;
};

function compileModel(model: ModelSpec, scale: number): Compiled {
  const builtin = isBuiltinModel(model) && scale === 1;
  const order = topologicalOrder(model);
  const programs = builtin ? builtinPrograms(model.batch.micro, model) : compileModules(model, { micro: model.batch.micro, scale }, compileModule);
  return { model, order, microbatches: microbatchesOf(model), programs, builtin, scale };
}

function iterationFlops(c: Compiled): number {
  let f = 0;
  for (const p of c.programs.values()) f += c.microbatches * (p.flops.forward + p.flops.backward);
  return f;
}

/** The largest scale in 1, 1/2, 1/4, … (down to 1/256) whose iteration needs at most {@link AUTO_SCALE_FLOPS}. 1 for the built-in model. */
export function autoScale(model: ModelSpec): number {
  if (isBuiltinModel(model)) return 1;
  for (const s of SCALES) if (iterationFlops(compileModel(model, s)) <= AUTO_SCALE_FLOPS) return s;
  return SCALES[SCALES.length - 1] as number;
}

/** Float32 elements the engine allocates for a compiled plan. */
function plannedElements(plan: Plan, c: Compiled): number {
  let total = 0;
  for (const [name, p] of c.programs) {
    const replicas = plan.replicas.filter((r) => r.module === name).length;
    for (const b of p.buffers) {
      if (b.kind === 'param' || b.kind === 'grad' || b.kind === 'scratch') total += replicas * b.length;
      else if (b.kind === 'state') total += b.length;
      else total += c.microbatches * b.length;
    }
    total += c.microbatches * (p.outputElementsPerSample * plan.model.batch.micro * 2 + 2);
  }
  return total;
}

/**
 * Why a plan cannot run on this machine's CPU backend, in words; undefined when it can. Checks: the
 * plan is for a cpu cluster, it passes the plan validator (unknown modules, quotas over 1, batch
 * coverage, memory by the plan's own model), its cores fit the cores this process may use, the
 * native engine loads, and the buffers fit in free memory.
 */
export function refusePlan(plan: Plan, options: { readonly scale?: number } = {}): string | undefined {
  if (plan.cluster.device !== 'cpu') {
    return `plan is for cluster ${plan.cluster.name} (device ${plan.cluster.device}); the CPU backend runs only plans made for a cpu cluster (mosaic plan --cluster local-cpu)`;
  }
  const problems = validatePlan(plan);
  if (problems.length > 0) return `plan is not valid: ${problems.join('; ')}`;
  const native = loadNative();
  if (!native.ok) return native.reason;
  const allowed = native.binding.cpuInfo().allowedCores;
  const gpus = gpuCountOf(plan.cluster);
  const needed = plan.gpus.reduce((s, g) => s + g.slots.reduce((t, sl) => t + sl.smCount, 0), 0);
  const blocks = gpus * plan.cluster.gpu.smCount;
  if (needed > allowed.length || Math.max(...plan.gpus.map((g) => g.id + 1)) * plan.cluster.gpu.smCount > allowed.length) {
    return `plan needs ${Math.max(needed, blocks)} cores (${gpus} device(s) of ${plan.cluster.gpu.smCount} cores), but this process may use ${allowed.length} (cores ${allowed.join(',')})`;
  }
  const scale = options.scale ?? autoScale(plan.model);
  if (!(scale > 0 && scale <= 1)) return `scale ${scale} is not in (0, 1]`;
  let compiled: Compiled;
  try {
    compiled = compileModel(plan.model, scale);
  } catch (err) {
    return `cannot compile the model: ${(err as Error).message}`;
  }
  const bytes = plannedElements(plan, compiled) * 4;
  const free = os.freemem();
  if (bytes > free * 0.8) {
    return `out of memory: the engine needs ${(bytes / 2 ** 30).toFixed(2)} GiB of buffers at scale ${scale}, this machine has ${(free / 2 ** 30).toFixed(2)} GiB free`;
  }
  return undefined;
}

type Instance = { readonly module: string; readonly replica: number; readonly context: number };

type Built = {
  readonly contexts: ContextSpec[];
  readonly buffers: Float32Array[];
  /** Tasks except the optimizer ones, in submission order. */
  readonly tasks: TaskSpec[];
  readonly taskModule: Map<number, string>;
  /** Optimizer task per trainable module: ops builder for a step. */
  readonly optimizerTasks: { readonly id: number; readonly module: string; readonly context: number; readonly deps: number[]; readonly ops: (step: number) => Op[] }[];
  readonly grads: Float32Array[];
  /** Per microbatch: the loss buffer (built-in) and the data fills. */
  readonly lossBuffers: Float32Array[];
  readonly fillData: (iteration: number) => void;
  readonly weights: Map<string, Float32Array[]>;
  readonly replicaCount: Map<string, number>;
};

/** The steps of {@link build} share this: the plan, its programs and the buffer layout. */
type Wiring = {
  readonly plan: Plan;
  readonly model: ModelSpec;
  readonly c: Compiled;
  readonly micro: number;
  /** Microbatches per iteration. */
  readonly K: number;
  readonly buffers: Float32Array[];
  readonly alloc: (n: number) => number;
  readonly replicasOf: Map<string, Instance[]>;
  /** Module -> microbatch -> the replica that owns it. */
  readonly owner: Map<string, number[]>;
  /** Module -> replica -> program-local buffer -> global buffer (or -1). */
  readonly perReplica: Map<string, number[][]>;
  readonly weights: Map<string, Float32Array[]>;
  readonly grads: Float32Array[];
  /** Program-local buffer -> global buffer, for a module's microbatch k. */
  readonly mapFor: (name: string, k: number) => (local: number) => number;
  readonly contextFor: (name: string, k: number) => number;
  readonly consumers: Map<string, string[]>;
  readonly byName: Map<string, ModuleSpec>;
  readonly width: (n: string) => number;
  readonly offsetIn: (consumer: string, input: string) => number;
};

type LossOps = Map<string, { readonly forward: readonly Op[]; readonly backward: readonly Op[] }>;
type TaskIds = { readonly fwdId: Map<string, number>; readonly bwdId: Map<string, number>; readonly key: (m: string, k: number) => string; nextId: number };

/** Step 1: one engine context per slot of the plan; GPU g gets the g-th block of smCount allowed cores. */
function placeContexts(plan: Plan, allowed: readonly number[]): { contexts: ContextSpec[]; slotContext: Map<string, number> } {
  const C = plan.cluster.gpu.smCount;
  const contexts: ContextSpec[] = [];
  const slotContext = new Map<string, number>();
  for (const gpu of plan.gpus) {
    const cores = allowed.slice(gpu.id * C, gpu.id * C + C);
    const groups = assignCpuCores(gpu.slots.map((s) => ({ module: s.id, quotaFraction: s.smCount / C })), cores);
    for (const g of groups) {
      slotContext.set(g.module, contexts.length);
      contexts.push({ id: contexts.length, cores: g.cores });
    }
  }

  return { contexts, slotContext };
}

/**
 * Step 2: buffer instances (per replica: parameters, gradients, scratch; per module: optimizer state;
 * per microbatch: activations and data), with deterministic initial weights, and how modules connect.
 */
function layoutBuffers(plan: Plan, c: Compiled, seed: number, slotContext: Map<string, number>): Wiring {
  const model = plan.model;
  const micro = model.batch.micro;
  const K = c.microbatches;
  const buffers: Float32Array[] = [];
  const alloc = (n: number): number => {
    buffers.push(new Float32Array(n));
    return buffers.length - 1;
  };

  // Replicas and microbatch owners.
  const replicasOf = new Map<string, Instance[]>();
  const owner = new Map<string, number[]>();
  for (const name of c.order) {
    const reps = plan.replicas.filter((r) => r.module === name).sort((a, b) => a.index - b.index);
    replicasOf.set(name, reps.map((r, i) => ({ module: name, replica: i, context: slotContext.get(r.slot) as number })));
    owner.set(name, assignMicrobatches(reps.map((r) => r.samples / micro)));
  }

  // Buffer instances: per replica (param, grad, scratch), per module (state), per microbatch (activation, data).
  const perReplica = new Map<string, number[][]>(); // module -> replica -> local -> global (or -1)
  const perMicro = new Map<string, number[][]>(); // module -> k -> local -> global (or -1)
  const weights = new Map<string, Float32Array[]>();
  const grads: Float32Array[] = [];
  for (const name of c.order) {
    const p = c.programs.get(name)!;
    const reps = replicasOf.get(name)!;
    // Deterministic init, independent of the plan: one stream per module.
    const rand = seededRandom(mixSeed(seed, ...Array.from(name, (ch) => ch.charCodeAt(0))));
    const initial = p.buffers.map((b) => {
      if (b.kind !== 'param') return undefined;
      const v = new Float32Array(b.length);
      if (b.init === 'ones') v.fill(1);
      else if (b.init === 'random') for (let i = 0; i < v.length; i++) v[i] = (2 * rand() - 1) * (b.initScale ?? 1);
      return v;
    });
    const stateMap = p.buffers.map((b) => (b.kind === 'state' ? alloc(b.length) : -1));
    const repMaps = reps.map(() =>
      p.buffers.map((b, i) => {
        if (b.kind === 'state') return stateMap[i] as number;
        if (b.kind !== 'param' && b.kind !== 'grad' && b.kind !== 'scratch') return -1;
        const g = alloc(b.length);
        if (b.kind === 'param') (buffers[g] as Float32Array).set(initial[i] as Float32Array);
        if (b.kind === 'grad') grads.push(buffers[g] as Float32Array);
        return g;
      }),
    );
    perReplica.set(name, repMaps);
    const microMaps: number[][] = [];
    for (let k = 0; k < K; k++) {
      const dataRand = seededRandom(mixSeed(seed, 0xda7a, k, ...Array.from(name, (ch) => ch.charCodeAt(0))));
      microMaps.push(
        p.buffers.map((b) => {
          if (b.kind !== 'activation' && b.kind !== 'data') return -1;
          const g = alloc(b.length);
          if (b.kind === 'data' && b.init === 'random') {
            const v = buffers[g] as Float32Array;
            for (let i = 0; i < v.length; i++) v[i] = (2 * dataRand() - 1) * (b.initScale ?? 1);
          }
          return g;
        }),
      );
    }
    perMicro.set(name, microMaps);
    weights.set(name, [...p.params.map((x) => x.param), ...p.frozenParams].map((local) => buffers[(repMaps[0] as number[])[local] as number] as Float32Array));
  }
  const mapFor = (name: string, k: number): ((local: number) => number) => {
    const rep = (owner.get(name) as number[])[k] as number;
    const rm = (perReplica.get(name) as number[][])[rep] as number[];
    const mm = (perMicro.get(name) as number[][])[k] as number[];
    return (local: number) => {
      const g = (rm[local] as number) >= 0 ? (rm[local] as number) : (mm[local] as number);
      if (g === undefined || g < 0) throw new Error(`internal: module ${name} buffer ${local} has no instance`);
      return g;
    };
  };
  const contextFor = (name: string, k: number): number => ((replicasOf.get(name) as Instance[])[(owner.get(name) as number[])[k] as number] as Instance).context;

  const consumers = new Map<string, string[]>(c.order.map((n) => [n, []]));
  for (const m of model.modules) for (const i of m.inputs) consumers.get(i)!.push(m.name);
  const byName = new Map(model.modules.map((m) => [m.name, m]));
  const width = (n: string): number => c.programs.get(n)!.outputElementsPerSample;
  const offsetIn = (consumer: string, input: string): number => {
    let off = 0;
    for (const i of byName.get(consumer)!.inputs) {
      if (i === input) return off;
      off += width(i);
    }
    throw new Error(`internal: ${input} is not an input of ${consumer}`);
  };

  return { plan, model, c, micro, K, buffers, alloc, replicasOf, owner, perReplica, weights, grads, mapFor, contextFor, consumers, byName, width, offsetIn };
}

/** Step 3: the loss ops and the data of every sink microbatch, from the model's objective. */
function sinkLosses(w: Wiring, seed: number): { lossOps: LossOps; lossBuffers: Float32Array[]; fills: ((iteration: number) => void)[] } {
  const { model, c, micro, K, alloc, buffers, mapFor, consumers } = w;
  const objective = c.builtin ? builtinObjective(seed) : MSE_TO_ZERO;
  const lossBuffers: Float32Array[] = [];
  const fills: ((iteration: number) => void)[] = [];
  const lossOps: LossOps = new Map(); // key `${module}:${k}`
  for (const name of c.order) {
    if ((consumers.get(name) as string[]).length > 0) continue;
    const p = c.programs.get(name)!;
    if (p.backward.length === 0 && !objective.lossOnFrozenSinks) continue;
    for (let k = 0; k < K; k++) {
      const map = mapFor(name, k);
      const sink = objective.sink({
        module: name,
        k,
        micro,
        out: map(p.output),
        dOut: map(p.dOutput),
        n: p.outputElementsPerSample * micro,
        gradScale: micro / model.batch.global,
        alloc,
        buffer: (i) => buffers[i] as Float32Array,
        dataOf: (m) => buffers[mapFor(m, k)(c.programs.get(m)!.data as number)] as Float32Array,
      });
      lossOps.set(`${name}:${k}`, { forward: sink.forward, backward: sink.backward });
      if (sink.loss) lossBuffers.push(sink.loss);
      if (sink.fill) fills.push(sink.fill);
    }
  }

  return { lossOps, lossBuffers, fills };
}

/** Step 4: task ids: forward F(m, k) in microbatch-major order, then backward B(m, k); optimizer tasks take the next ones. */
function numberTasks(w: Wiring): TaskIds {
  const { c, K } = w;
  let nextId = 0;
  const fwdId = new Map<string, number>();
  const bwdId = new Map<string, number>();
  const key = (m: string, k: number): string => `${m}:${k}`;
  for (let k = 0; k < K; k++) for (const name of c.order) fwdId.set(key(name, k), nextId++);
  for (let k = 0; k < K; k++) for (const name of c.order) if (c.programs.get(name)!.backward.length > 0) bwdId.set(key(name, k), nextId++);

  return { fwdId, bwdId, key, nextId };
}

/** Step 5: forward tasks: gather the inputs of microbatch k, the forward ops, the loss on sinks. */
function forwardTasksOf(w: Wiring, ids: TaskIds, lossOps: LossOps, taskModule: Map<number, string>): TaskSpec[] {
  const { c, micro, K, mapFor, contextFor, byName, width, offsetIn } = w;
  const { fwdId, key } = ids;
  const forwardTasks: TaskSpec[] = [];
  for (let k = 0; k < K; k++) {
    for (const name of c.order) {
      const p = c.programs.get(name)!;
      const map = mapFor(name, k);
      const ops: Op[] = [];
      const inputs = byName.get(name)!.inputs;
      if (p.input !== undefined) {
        const dst = map(p.input);
        const W = p.inputElementsPerSample;
        if (inputs.length === 1 && width(inputs[0] as string) === W) {
          const up = c.programs.get(inputs[0] as string)!;
          ops.push({ op: 'copy', src: mapFor(inputs[0] as string, k)(up.output), dst, n: W * micro });
        } else {
          for (const i of inputs) {
            const src = mapFor(i, k)(c.programs.get(i)!.output);
            const w = width(i);
            const off = offsetIn(name, i);
            for (let s = 0; s < micro; s++) ops.push({ op: 'copy', src, dst, n: w, srcOffset: s * w, dstOffset: s * W + off });
          }
        }
      }
      ops.push(...p.forward.map((op) => remapOp(op, map)));
      const loss = lossOps.get(key(name, k));
      if (loss) ops.push(...loss.forward);
      const id = fwdId.get(key(name, k)) as number;
      taskModule.set(id, name);
      forwardTasks.push({ id, context: contextFor(name, k), ops, deps: inputs.map((i) => fwdId.get(key(i, k)) as number) });
    }
  }
  return forwardTasks;
}

/** Step 6: backward tasks: gather dOutput from the consumers (or the loss), the backward ops; a fixed accumulation order per replica. */
function backwardTasksOf(w: Wiring, ids: TaskIds, lossOps: LossOps, taskModule: Map<number, string>): TaskSpec[] {
  const { c, micro, K, owner, mapFor, contextFor, consumers, width, offsetIn } = w;
  const { fwdId, bwdId, key } = ids;
  const backwardTasks: TaskSpec[] = [];
  const lastBackward = new Map<string, number>(); // `${module}:${replica}` -> task id
  for (let k = 0; k < K; k++) {
    for (const name of [...c.order].reverse()) {
      const p = c.programs.get(name)!;
      const id = bwdId.get(key(name, k));
      if (id === undefined) continue;
      const map = mapFor(name, k);
      const ops: Op[] = [];
      const deps = [fwdId.get(key(name, k)) as number];
      const cons = (consumers.get(name) as string[]).filter((cn) => c.programs.get(cn)!.dInput !== undefined);
      const loss = lossOps.get(key(name, k));
      if (loss) ops.push(...loss.backward);
      else {
        const dOut = map(p.dOutput);
        const w = width(name);
        const only = cons.length === 1 ? c.programs.get(cons[0] as string)! : undefined;
        if (only && only.inputElementsPerSample === w) {
          ops.push({ op: 'copy', src: mapFor(cons[0] as string, k)(only.dInput as number), dst: dOut, n: w * micro });
        } else {
          ops.push({ op: 'fill', dst: dOut, n: w * micro, value: 0 });
          for (const cn of cons) {
            const cp = c.programs.get(cn)!;
            const src = mapFor(cn, k)(cp.dInput as number);
            const W = cp.inputElementsPerSample;
            const off = offsetIn(cn, name);
            for (let s = 0; s < micro; s++) ops.push({ op: 'accumulate', src, dst: dOut, n: w, srcOffset: s * W + off, dstOffset: s * w });
          }
        }
      }
      for (const cn of cons) deps.push(bwdId.get(key(cn, k)) as number);
      ops.push(...p.backward.map((op) => remapOp(op, map)));
      const rep = `${name}:${(owner.get(name) as number[])[k]}`;
      const prev = lastBackward.get(rep);
      if (prev !== undefined) deps.push(prev);
      lastBackward.set(rep, id);
      taskModule.set(id, name);
      backwardTasks.push({ id, context: contextFor(name, k), ops, deps });
    }
  }
  return backwardTasks;
}

/** Step 7: one optimizer task per trainable module: reduce the replicas' gradients, Adam, broadcast the weights. */
function optimizerTasksOf(w: Wiring, ids: TaskIds, taskModule: Map<number, string>): Built['optimizerTasks'] {
  const { c, K, replicasOf, perReplica } = w;
  const { bwdId, key } = ids;
  const optimizerTasks: Built['optimizerTasks'] = [];
  for (const name of c.order) {
    const p = c.programs.get(name)!;
    if (p.optimizer.length === 0) continue;
    const reps = replicasOf.get(name)!;
    const repMaps = perReplica.get(name)!;
    const first = repMaps[0] as number[];
    const ops = (step: number): Op[] => {
      const out: Op[] = [];
      for (let r = 1; r < reps.length; r++) {
        for (const { grad, param } of p.params) {
          out.push({ op: 'accumulate', src: (repMaps[r] as number[])[grad] as number, dst: first[grad] as number, n: p.buffers[param]!.length });
        }
      }
      out.push(...optimizerOpsForStep(p, step).map((op) => remapOp(op, (l) => first[l] as number)));
      for (let r = 1; r < reps.length; r++) {
        for (const { param } of p.params) out.push({ op: 'copy', src: first[param] as number, dst: (repMaps[r] as number[])[param] as number, n: p.buffers[param]!.length });
      }
      return out;
    };
    const deps: number[] = [];
    for (let k = 0; k < K; k++) deps.push(bwdId.get(key(name, k)) as number);
    const id = ids.nextId++;
    taskModule.set(id, name);
    optimizerTasks.push({ id, module: name, context: (reps[0] as Instance).context, deps, ops });
  }
  return optimizerTasks;
}

/** The plan as engine contexts, buffers and tasks, in the named steps above. */
function build(plan: Plan, c: Compiled, seed: number): Built {
  const native = loadNative();
  if (!native.ok) throw new MosaicError('E_INPUT', native.reason);
  const { contexts, slotContext } = placeContexts(plan, native.binding.cpuInfo().allowedCores);
  const w = layoutBuffers(plan, c, seed, slotContext);
  const { lossOps, lossBuffers, fills } = sinkLosses(w, seed);
  const ids = numberTasks(w);
  const taskModule = new Map<number, string>();
  const forwardTasks = forwardTasksOf(w, ids, lossOps, taskModule);
  const backwardTasks = backwardTasksOf(w, ids, lossOps, taskModule);
  const optimizerTasks = optimizerTasksOf(w, ids, taskModule);
  return {
    contexts,
    buffers: w.buffers,
    tasks: [...backwardTasks, ...forwardTasks],
    taskModule,
    optimizerTasks,
    grads: w.grads,
    lossBuffers,
    fillData: (iteration) => fills.forEach((f) => f(iteration)),
    weights: w.weights,
    replicaCount: new Map([...w.replicasOf].map(([n, r]) => [n, r.length])),
  };
}

function scaledModel(model: ModelSpec, c: Compiled): ModelSpec {
  return { ...model, modules: model.modules.map((m) => c.programs.get(m.name)!.scaled) };
}

/**
 * Trains (or replays) a plan for `options.iterations` iterations on the CPU backend. Refuses a plan
 * that cannot run (MosaicError E_INPUT with {@link refusePlan}'s reason) before anything runs.
 * Cancelling through `options.signal` stops the running graph at the next op boundary; the report
 * lists the completed iterations and `cancelled: true`.
 */
export async function trainPlan(plan: Plan, options: TrainOptions): Promise<TrainReport> {
  if (!(Number.isInteger(options.iterations) && options.iterations >= 0)) {
    throw new MosaicError('E_USAGE', `Expected a non-negative integer number of iterations but received ${options.iterations}`);
  }
  const scale = options.scale ?? autoScale(plan.model);
  const why = refusePlan(plan, { scale });
  if (why) throw new MosaicError('E_INPUT', `cannot run this plan: ${why}`);
  const seed = options.seed ?? 1;
  const compiled = compileModel(plan.model, scale);
  const built = build(plan, compiled, seed);

  let predictedIterationMs = plan.prediction.iterationMs;
  let predictedBusy: ReadonlyMap<string, number> = new Map(plan.prediction.stages.map((s) => [s.module, s.busyMs]));
  if (scale !== 1) {
    const perf = buildPerfModel(scaledModel(plan.model, compiled), plan.cluster, plan.profile);
    const sim = simulateIteration(perf, plan.gpus, plan.replicas);
    predictedIterationMs = sim.iterationMs;
    predictedBusy = sim.moduleBusyMs;
  }

  const reports: IterationReport[] = [];
  let cancelled = false;
  for (let it = 0; it < options.iterations; it++) {
    if (options.signal?.aborted) {
      cancelled = true;
      break;
    }
    const hostStarted = process.hrtime.bigint();
    for (const g of built.grads) g.fill(0);
    built.fillData(it);
    const tasks: TaskSpec[] = [...built.tasks, ...built.optimizerTasks.map((t) => ({ id: t.id, context: t.context, deps: t.deps, ops: t.ops(it + 1) }))];
    const run = startGraph({ contexts: built.contexts, tasks, buffers: built.buffers });
    const onAbort = (): void => run.cancel();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    let result: GraphResult;
    try {
      result = await run.result;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
    if (result.cancelled) {
      cancelled = true;
      break;
    }
    const busy: Record<string, number> = Object.fromEntries(compiled.order.map((m) => [m, 0]));
    for (const t of result.tasks) {
      const m = built.taskModule.get(t.id) as string;
      busy[m] = (busy[m] as number) + (t.endNs - t.startNs) / 1e6;
    }
    const wallMs = result.wallNs / 1e6;
    const util = Object.fromEntries(compiled.order.map((m) => [m, wallMs > 0 ? (busy[m] as number) / (wallMs * (built.replicaCount.get(m) ?? 1)) : 0]));
    const loss = compiled.builtin ? built.lossBuffers.reduce((s, b) => s + (b[0] as number), 0) / built.lossBuffers.length : undefined;
    const hostMs = Number(process.hrtime.bigint() - hostStarted) / 1e6;
    const report: IterationReport = { iteration: it, wallMs, hostMs, ...(loss !== undefined ? { loss } : {}), busyMsByModule: busy, utilisationByModule: util };
    reports.push(report);
    options.onIteration?.(report);
  }
  if (options.signal?.aborted && reports.length < options.iterations) cancelled = true;
  const meanIterationMs = reports.length > 0 ? reports.reduce((s, r) => s + r.wallMs, 0) / reports.length : 0;
  const finalWeights = new Map([...built.weights].map(([m, ws]) => [m, ws.map((w) => Float32Array.from(w))]));
  return {
    iterations: reports,
    meanIterationMs,
    predictedIterationMs,
    cancelled,
    finalWeights,
    scale,
    predictedBusyMsByModule: Object.fromEntries(compiled.order.map((m) => [m, predictedBusy.get(m) ?? 0])),
    flopsPerIteration: iterationFlops(compiled),
    builtin: compiled.builtin,
  };
}
