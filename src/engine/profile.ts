/**
 * `mosaic profile` as a library: measures each module's forward and backward time per microbatch at
 * each quota level on the engine, alone and co-running with another module on disjoint cores, and
 * returns a Profile (schemas/profile.schema.json) that `buildPerfModel` calibrates from.
 *
 * On the CPU backend a quota of k cores is a context pinned to k of the allowed cores; its
 * `quotaFraction` is k / allowedCores, and samples name the device as `localCpuCluster(allowedCores)`
 * does (`cpu-N-core`), so the profile pairs with `--cluster local-cpu`.
 * Each measurement runs one graph: a warm-up forward+backward, then `repeats` forward and backward
 * tasks over a few rotating sets of activation buffers (training touches fresh ones per microbatch);
 * the mean task time is recorded by default (the engine's own per-task timestamps, so no JS overhead).
 */

import { localCpuCluster } from '../spec/local-cpu';
import { microbatchesOf } from '../spec/problem';
import type { EngineCosts, ModelSpec, ModuleSpec, Profile, ProfileSample } from '../spec/types';
import { loadNative, runGraph, type GraphResult, type GraphSpec, type TaskSpec } from './native';
import { EngineError, type Op } from './ops';
import { compileModule, compileModules, remapOp, type CompileOptions } from './program';
import { autoScale } from './train';
import { seededRandom } from '../util/seeded-random';
import { mean, median, trimmedMean } from '../util/stats';

/** The part of `ModuleProgram` (src/engine/program.ts) that profiling needs. */
export type ProfiledProgram = {
  readonly module: string;
  readonly micro: number;
  readonly buffers: readonly {
    readonly name: string;
    readonly length: number;
    readonly init: 'zero' | 'random' | 'ones';
    readonly initScale?: number;
    /** As in program.ts: `activation` and `data` buffers exist once per microbatch in training. */
    readonly kind?: string;
  }[];
  readonly input: number | undefined;
  readonly output: number;
  readonly dOutput: number;
  readonly forward: readonly Op[];
  readonly backward: readonly Op[];
  /** Elements per sample of the output (sizes the input of the modules downstream). */
  readonly outputElementsPerSample?: number;
};

/** Compiles one module into a program (default: `compileModule` from src/engine/program.ts). */
export type CompileFn = (module: ModuleSpec, options: CompileOptions) => ProfiledProgram;

export type ProfileDevice = 'cpu' | 'cuda';

export type ProfileProgress = {
  readonly done: number;
  readonly total: number;
  /** What was just measured, e.g. `vision @ 2 cores` or `vision + text @ 1+1 cores`. */
  readonly label: string;
};

export type ProfileOptions = {
  readonly device: ProfileDevice;
  /**
   * Shape scale in (0, 1] passed to the program compiler (1 = the module's real shapes). Default: what
   * `trainPlan` picks (`autoScale`: 1 for the built-in model, else the largest power-of-two fraction
   * whose iteration fits its FLOP budget), so a profile and a training run replay the same shapes.
   */
  readonly scale?: number;
  /** Microbatch size to profile at; default the model's. */
  readonly micro?: number;
  /** Quota levels as core counts; default every count from 1 to the allowed cores. */
  readonly levels?: readonly number[];
  /** Timed repeats per measurement. */
  readonly repeats: number;
  /**
   * What is recorded of the repeats: the trimmed mean (default: the mean of the middle 80%; an
   * iteration is a sum of many task times, so a mean predicts it, tail of fork/join wake-ups included,
   * while one multi-millisecond stall from another process among 30 sub-millisecond runs is dropped
   * rather than tripling the figure), the plain mean, or the median (blind to the tail).
   */
  readonly statistic: ProfileStatistic;
  /**
   * Sets of per-microbatch buffers (activations, data) the repeats rotate through, as training touches
   * a fresh set for each microbatch; bounded by the model's microbatches per iteration and by memory.
   */
  readonly bufferSets: number;
  /** Untimed warm-up runs before the repeats. */
  readonly warmup: number;
  /** Also measure pairs of modules co-running on disjoint halves of the cores (fits interference). */
  readonly pairs: boolean;
  /** Seed of the random buffer contents. */
  readonly seed: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: ProfileProgress) => void;
  /** Program compiler (tests inject a stand-in); default `compileModule` from src/engine/program.ts. */
  readonly compile?: CompileFn;
  /** Cores to use; default every core this process may run on. */
  readonly cores?: readonly number[];
};

export type ProfileStatistic = 'trimmed' | 'mean' | 'median';
export const PROFILE_STATISTICS: readonly ProfileStatistic[] = ['trimmed', 'mean', 'median'];

export const DEFAULT_PROFILE_OPTIONS: ProfileOptions = { device: 'cpu', repeats: 30, statistic: 'trimmed', bufferSets: 8, warmup: 1, pairs: true, seed: 1 };

/** Upper bound on the bytes of rotated buffer sets per measurement. */
const ROTATION_BYTES = 256 * 2 ** 20;

/** How the samples were measured (optional `measurement` block of the profile file). */
export type ProfileMeasurement = {
  readonly backend: 'cpu';
  readonly scale: number;
  readonly cores: number;
  readonly levels: readonly number[];
  readonly repeats: number;
  readonly statistic: ProfileStatistic;
  readonly bufferSets: number;
  readonly warmup: number;
  readonly seed: number;
};

export type EngineProfile = Profile & { readonly measurement?: ProfileMeasurement };

/**
 * Allocates a program's buffers with their declared initial contents (random: uniform in
 * [−initScale, initScale], default 0.1); the input and the output gradient get random data too.
 * With `only`, the other buffers are left out (undefined).
 */
export function allocateBuffers(program: ProfiledProgram, seed: number, only?: (index: number) => boolean): (Float32Array | undefined)[] {
  const next = seededRandom(seed);
  return program.buffers.map((b, i) => {
    if (only && !only(i)) return undefined;
    const a = new Float32Array(b.length);
    if (b.init === 'random' || i === program.input || i === program.dOutput) {
      const scale = b.init === 'random' ? b.initScale ?? 0.1 : 0.1;
      for (let j = 0; j < a.length; j++) a[j] = (2 * next() - 1) * scale;
    } else if (b.init === 'ones') a.fill(1);
    return a;
  });
}

/** The op with every buffer index shifted by `offset` (to put several programs in one graph). */
export function shiftBuffers(op: Op, offset: number): Op {
  return offset === 0 ? op : remapOp(op, (i) => i + offset);
}

/** Every module of the model compiled at a microbatch size: the engine's one compile step (src/engine/program.ts). */
export function compileModel(model: ModelSpec, micro: number, scale: number, compile: CompileFn): Map<string, ProfiledProgram> {
  return compileModules(model, { micro, scale }, compile);
}

type Placed = { program: ProfiledProgram; cores: readonly number[]; count: number; sets: number };

type Run = { readonly kind: 'fwd' | 'bwd'; readonly ms: number; readonly startNs: number; readonly endNs: number };

const perMicrobatch = (kind: string | undefined): boolean => kind === 'activation' || kind === 'data';

/** How many sets of per-microbatch buffers to rotate through (1 when the program does not say which those are). */
function rotationSets(program: ProfiledProgram, wanted: number): number {
  const bytes = 4 * program.buffers.filter((b) => perMicrobatch(b.kind)).reduce((acc, b) => acc + b.length, 0);
  if (bytes === 0) return 1;
  return Math.max(1, Math.min(wanted, Math.floor(ROTATION_BYTES / bytes)));
}

/**
 * Runs each placed program `warmup + count` times (a forward task, then a backward task) in its own
 * context, all contexts at once, and returns the timed (non-warm-up) runs per placement. Run r uses
 * per-microbatch buffer set r mod `sets` (parameters, gradients and scratch are shared, as in training).
 */
async function measure(placed: readonly Placed[], warmup: number, seed: number, signal: AbortSignal | undefined): Promise<Run[][]> {
  const buffers: Float32Array[] = [];
  const tasks: TaskSpec[] = [];
  const kinds = new Map<number, { placement: number; kind: 'fwd' | 'bwd'; warm: boolean }>();
  let id = 0;
  placed.forEach((p, ci) => {
    const offset = buffers.length;
    buffers.push(...(allocateBuffers(p.program, seed + 7919 * ci) as Float32Array[]));
    const base = p.program.buffers.map((_, i) => offset + i);
    const maps: number[][] = [base];
    for (let k = 1; k < p.sets; k++) {
      const fresh = allocateBuffers(p.program, seed + 7919 * ci + 104729 * k, (i) => perMicrobatch(p.program.buffers[i]!.kind));
      maps.push(base.map((g, i) => (perMicrobatch(p.program.buffers[i]!.kind) ? buffers.push(fresh[i] as Float32Array) - 1 : g)));
    }
    const forward = maps.map((m) => p.program.forward.map((op) => remapOp(op, (i) => m[i] as number)));
    const backward = maps.map((m) => p.program.backward.map((op) => remapOp(op, (i) => m[i] as number)));
    for (let r = 0; r < warmup + p.count; r++) {
      const warm = r < warmup;
      const set = r % maps.length;
      kinds.set(id, { placement: ci, kind: 'fwd', warm });
      tasks.push({ id: id++, context: ci, ops: forward[set] as Op[], deps: [] });
      if ((backward[set] as Op[]).length > 0) {
        kinds.set(id, { placement: ci, kind: 'bwd', warm });
        tasks.push({ id: id++, context: ci, ops: backward[set] as Op[], deps: [] });
      }
    }
  });
  const result: GraphResult = await runGraph({ contexts: placed.map((p, ci) => ({ id: ci, cores: p.cores })), tasks, buffers }, signal ? { signal } : {});
  if (result.cancelled) throw new ProfileCancelled();
  const out: Run[][] = placed.map(() => []);
  for (const t of result.tasks) {
    const k = kinds.get(t.id);
    if (!k || k.warm) continue;
    (out[k.placement] as Run[]).push({ kind: k.kind, ms: (t.endNs - t.startNs) / 1e6, startNs: t.startNs, endNs: t.endNs });
  }
  return out;
}

const timesOf = (runs: readonly Run[], kind: 'fwd' | 'bwd'): number[] => runs.filter((r) => r.kind === kind).map((r) => r.ms);

/** Thrown when the signal stops profiling; the CLI reports it as an interruption. */
export class ProfileCancelled extends Error {
  constructor() {
    super('profiling was cancelled');
    this.name = 'ProfileCancelled';
  }
}

/** Validated quota levels (core counts) for `available` cores. */
export function coreLevels(levels: readonly number[] | undefined, available: number): number[] {
  if (levels === undefined) return Array.from({ length: available }, (_, i) => i + 1);
  const out = [...new Set(levels)].sort((a, b) => a - b);
  for (const k of out) {
    if (!Number.isInteger(k) || k < 1 || k > available) {
      throw new EngineError('E_BAD_QUOTA', `Expected quota levels to be core counts in [1, ${available}] but received ${k}`);
    }
  }
  return out;
}

/**
 * Profiles every module of `model` on the engine. Throws EngineError for invalid input, for
 * `device: 'cuda'` (the CUDA backend has no op kernels), and when the addon is missing.
 */
export async function profileModel(model: ModelSpec, options: Partial<ProfileOptions> = {}): Promise<EngineProfile> {
  const opts: ProfileOptions = { ...DEFAULT_PROFILE_OPTIONS, ...options };
  if (opts.device === 'cuda') {
    throw new EngineError('E_CUDA_NO_KERNELS', 'cannot profile on --device cuda: the CUDA backend only splits SMs into green contexts and has no op kernels yet; profile on --device cpu');
  }
  const scale = opts.scale ?? autoScale(model);
  if (!(scale > 0 && scale <= 1)) throw new EngineError('E_BAD_OP', `Expected a scale in (0, 1] but received ${scale}`);
  if (!Number.isInteger(opts.repeats) || opts.repeats < 1) throw new EngineError('E_BAD_OP', `Expected repeats to be an integer >= 1 but received ${opts.repeats}`);
  if (!Number.isInteger(opts.warmup) || opts.warmup < 0) throw new EngineError('E_BAD_OP', `Expected warmup to be an integer >= 0 but received ${opts.warmup}`);
  const native = loadNative();
  if (!native.ok) throw new EngineError('E_NATIVE_UNAVAILABLE', native.reason);
  const cores = opts.cores ?? native.binding.cpuInfo().allowedCores;
  if (cores.length === 0) throw new EngineError('E_CORES', 'no CPU cores available to profile on');
  const levels = coreLevels(opts.levels, cores.length);
  const micro = opts.micro ?? model.batch.micro;
  if (!Number.isInteger(micro) || micro < 1) throw new EngineError('E_BAD_OP', `Expected a microbatch size >= 1 but received ${micro}`);
  if (!PROFILE_STATISTICS.includes(opts.statistic)) throw new EngineError('E_BAD_OP', `Expected statistic to be one of ${PROFILE_STATISTICS.join(', ')} but received ${String(opts.statistic)}`);
  if (!Number.isInteger(opts.bufferSets) || opts.bufferSets < 1) throw new EngineError('E_BAD_OP', `Expected bufferSets to be an integer >= 1 but received ${opts.bufferSets}`);
  const stat = opts.statistic === 'mean' ? mean : opts.statistic === 'median' ? median : trimmedMean;
  // No more sets than the microbatches an iteration has.
  const bufferSets = Math.max(1, Math.min(opts.bufferSets, Math.floor(microbatchesOf(model))));
  const compile = opts.compile ?? compileModule;
  const device = localCpuCluster(cores.length).gpu.name;
  const programs = compileModel(model, micro, scale, compile);
  const names = [...programs.keys()];

  // Pairs: every unordered pair of modules on an even split of the cores (needs ≥ 2 cores).
  const half = Math.floor(cores.length / 2);
  const pairs: [string, string][] = [];
  if (opts.pairs && half >= 1) for (let i = 0; i < names.length; i++) for (let j = i + 1; j < names.length; j++) pairs.push([names[i] as string, names[j] as string]);
  const total = names.length * levels.length + pairs.length + 1;
  let done = 0;
  const progress = (label: string) => opts.onProgress?.({ done: ++done, total, label });

  const samples: ProfileSample[] = [];
  const alone = new Map<string, number>(); // `${module}@${k}` → forward+backward ms
  for (const name of names) {
    const program = programs.get(name) as ProfiledProgram;
    for (const k of levels) {
      const [m] = await measure([{ program, cores: cores.slice(0, k), count: opts.repeats, sets: rotationSets(program, bufferSets) }], opts.warmup, opts.seed, opts.signal);
      const fwd = timesOf(m as Run[], 'fwd');
      const bwd = timesOf(m as Run[], 'bwd');
      // The schema wants forwardMs > 0; a task always takes at least a nanosecond.
      const forwardMs = Math.max(1e-6, stat(fwd));
      const backwardMs = bwd.length > 0 ? stat(bwd) : 0;
      alone.set(`${name}@${k}`, forwardMs + backwardMs);
      samples.push({ module: name, device, quotaFraction: k / cores.length, micro, forwardMs, backwardMs });
      progress(`${name} @ ${k} core${k === 1 ? '' : 's'}`);
    }
  }
  for (const [a, b] of pairs) {
    const ka = half;
    const kb = cores.length - half;
    // Repeat the faster module more often so both run for about the same span.
    const ta = alone.get(`${a}@${ka}`) ?? measureFallback(samples, a);
    const tb = alone.get(`${b}@${kb}`) ?? measureFallback(samples, b);
    const span = Math.max(ta, tb) * opts.repeats;
    const countA = Math.max(opts.repeats, Math.min(200, Math.ceil(span / Math.max(ta, 1e-3))));
    const countB = Math.max(opts.repeats, Math.min(200, Math.ceil(span / Math.max(tb, 1e-3))));
    const [ma, mb] = await measure(
      [
        { program: programs.get(a) as ProfiledProgram, cores: cores.slice(0, ka), count: countA, sets: rotationSets(programs.get(a) as ProfiledProgram, bufferSets) },
        { program: programs.get(b) as ProfiledProgram, cores: cores.slice(ka, ka + kb), count: countB, sets: rotationSets(programs.get(b) as ProfiledProgram, bufferSets) },
      ],
      opts.warmup,
      opts.seed,
      opts.signal,
    );
    const qa = ka / cores.length;
    const qb = kb / cores.length;
    samples.push(coRunSample(a, device, qa, micro, ma!, mb!, b, qb, stat));
    samples.push(coRunSample(b, device, qb, micro, mb!, ma!, a, qa, stat));
    progress(`${a} + ${b} @ ${ka}+${kb} cores`);
  }
  const engine = await measureEngineCosts(cores, opts.signal);
  progress('engine costs');
  return {
    model: model.name,
    device,
    samples,
    engine,
    measurement: { backend: 'cpu', scale, cores: cores.length, levels, repeats: opts.repeats, statistic: opts.statistic, bufferSets, warmup: opts.warmup, seed: opts.seed },
  };
}

/** Median wall time of a graph over `runs` runs, in ms (the engine's own clock: no JS overhead). */
async function medianWallMs(graph: GraphSpec, runs: number, signal: AbortSignal | undefined): Promise<number> {
  const walls: number[] = [];
  for (let r = 0; r < runs; r++) {
    const result = await runGraph(graph, signal ? { signal } : {});
    if (result.cancelled) throw new ProfileCancelled();
    walls.push(result.wallNs / 1e6);
  }
  return median(walls);
}

/**
 * The engine's own costs, from chains of trivial tasks: one task (per graph run), 201 tasks on one
 * context (per task), 201 tasks alternating between two contexts on different cores (per
 * cross-context dependency: the waiting executor is woken). Medians of 15 runs; clamped at 0.
 */
export async function measureEngineCosts(cores: readonly number[], signal?: AbortSignal): Promise<EngineCosts> {
  const buffers = [new Float32Array(1)];
  const op: Op = { op: 'fill', dst: 0, n: 1, value: 1 };
  const contexts = cores.length >= 2 ? [{ id: 0, cores: [cores[0] as number] }, { id: 1, cores: [cores[1] as number] }] : [{ id: 0, cores: [cores[0] as number] }];
  const chain = (n: number, alternate: boolean): GraphSpec => ({
    contexts,
    tasks: Array.from({ length: n }, (_, i) => ({ id: i, context: alternate ? i % 2 : 0, ops: [op], deps: i > 0 ? [i - 1] : [] })),
    buffers,
  });
  const N = 200;
  const one = await medianWallMs(chain(1, false), 15, signal);
  const same = await medianWallMs(chain(N + 1, false), 15, signal);
  const perTaskMs = Math.max(0, (same - one) / N);
  const perHopMs = contexts.length >= 2 ? Math.max(0, ((await medianWallMs(chain(N + 1, true), 15, signal)) - same) / N) : 0;
  return { perGraphMs: Math.max(0, one - perTaskMs), perTaskMs, perHopMs };
}

function measureFallback(samples: readonly ProfileSample[], module: string): number {
  const s = samples.filter((x) => x.module === module);
  return s.length > 0 ? Math.max(...s.map((x) => x.forwardMs + x.backwardMs)) : 1;
}

/**
 * A co-running sample: the median of the module's runs that lie entirely inside the neighbour's timed
 * window (all of its runs when none do, e.g. next to a neighbour much faster than the module).
 */
function coRunSample(module: string, device: string, quotaFraction: number, micro: number, mine: readonly Run[], theirs: readonly Run[], neighbour: string, neighbourQuota: number, stat: (xs: readonly number[]) => number): ProfileSample {
  const lo = Math.min(...theirs.map((r) => r.startNs));
  const hi = Math.max(...theirs.map((r) => r.endNs));
  const inside = mine.filter((r) => r.startNs >= lo && r.endNs <= hi);
  const pick = (kind: 'fwd' | 'bwd'): number[] => {
    const overlapped = timesOf(inside, kind);
    return overlapped.length > 0 ? overlapped : timesOf(mine, kind);
  };
  const bwd = pick('bwd');
  return { module, device, quotaFraction, micro, forwardMs: Math.max(1e-6, stat(pick('fwd'))), backwardMs: bwd.length > 0 ? stat(bwd) : 0, coRunning: [{ module: neighbour, quotaFraction: neighbourQuota }] };
}
