/**
 * Loader and typed wrapper for the native engine (native/build/Release/mosaic_native.node).
 * The loader never throws: it records why the addon could not be loaded, and every entry point
 * that needs it throws EngineError E_NATIVE_UNAVAILABLE with that reason.
 */

import * as path from 'path';

import { MosaicError } from '../errors';
import { EngineError, validateOp, type NormalizedOp, type Op } from './ops';
import { partitionSms, type ModuleQuota } from './cuda-partition';

export { EngineError } from './ops';

export type ContextSpec = {
  readonly id: number;
  /** CPU cores this context's threads are pinned to (one thread per core). */
  readonly cores: readonly number[];
};

export type TaskSpec = {
  readonly id: number;
  /** Id of the context that runs the task. */
  readonly context: number;
  readonly ops: readonly Op[];
  /** Ids of tasks that must finish before this one starts. */
  readonly deps: readonly number[];
  /**
   * Test seam: once started, the task waits before its first op until the task with this id has
   * started, or (`'cancel'`) until the run is cancelled. Tests use it to order concurrent events
   * (two contexts provably running at once; a cancel that provably lands mid-run) without sleeping.
   */
  readonly testWaitFor?: number | 'cancel';
};

export type GraphSpec = {
  readonly contexts: readonly ContextSpec[];
  readonly tasks: readonly TaskSpec[];
  /** Buffers referenced by index from the ops. Do not detach or transfer them while a run is pending. */
  readonly buffers: readonly Float32Array[];
};

export type TaskTiming = {
  readonly id: number;
  readonly context: number;
  /** Nanoseconds since the start of the run. */
  readonly startNs: number;
  readonly endNs: number;
};

export type GraphResult = {
  /** Finished tasks, in completion order. */
  readonly tasks: readonly TaskTiming[];
  /** Tasks stopped by cancel() between two ops; their first `opsCompleted` ops ran. */
  readonly interrupted: readonly { readonly id: number; readonly opsCompleted: number }[];
  /** Ids of tasks that never started. */
  readonly notStarted: readonly number[];
  readonly wallNs: number;
  /** true when cancel() stopped the run before every task finished. */
  readonly cancelled: boolean;
};

export type CudaDevice = {
  readonly index: number;
  readonly name: string;
  readonly smCount: number;
  readonly computeCapability: string;
  readonly minSmPartitionSize: number;
  readonly smCoscheduledAlignment: number;
  /** Size of the equal groups cuDevSmResourceSplitByCount makes; partitions are built from these. */
  readonly partitionUnitSms: number;
  readonly partitionUnits: number;
  readonly greenContexts: boolean;
};

export type CudaProbe =
  | { readonly available: true; readonly compiled: true; readonly driverVersion: number; readonly devices: readonly CudaDevice[] }
  | { readonly available: false; readonly compiled: boolean; readonly reason: string; readonly devices: readonly CudaDevice[] };

export type CudaPartition = {
  readonly id: number;
  readonly device: number;
  readonly unitSms: number;
  readonly remainderSms: number;
  /** One green context + stream per group; smCount is what the driver reports. */
  readonly groups: readonly { readonly requestedSms: number; readonly smCount: number }[];
};

/** The raw addon surface. */
export type NativeBinding = {
  /** Called once at load: every error the addon throws or rejects with is `new errorClass(code, message)`. */
  setErrorClass(errorClass: new (code: never, message: string) => Error): void;
  runGraph(graph: {
    contexts: readonly ContextSpec[];
    tasks: readonly { id: number; context: number; ops: readonly NormalizedOp[]; deps: readonly number[]; testWaitFor?: number | 'cancel' }[];
    buffers: readonly Float32Array[];
  }): { promise: Promise<GraphResult>; cancel(): void };
  cpuInfo(): { allowedCores: number[]; hardwareConcurrency: number };
  opFields(): Record<string, string[]>;
  cudaProbe(): CudaProbe;
  cudaCreatePartition(device: number, smCounts: readonly number[]): CudaPartition;
  cudaDestroyPartition(id: number): void;
  cudaOrder(partitionId: number, fromGroup: number, toGroup: number): void;
  cudaRunGraph(graph: unknown): never;
  /** Bench only: the graph's single context's ops in a plain C++ loop on a pinned thread, `repeats` times; ns. */
  benchPlainLoop(graph: { contexts: readonly ContextSpec[]; tasks: readonly { id: number; context: number; ops: readonly NormalizedOp[]; deps: readonly number[] }[]; buffers: readonly Float32Array[] }, repeats: number): number;
  readonly exceptionPolicy: string;
  readonly cudaCompiled: boolean;
};

export type LoadResult = { readonly ok: true; readonly binding: NativeBinding; readonly path: string } | { readonly ok: false; readonly reason: string };

/** Candidate locations, relative to this file (works from src/engine/ under ts-node and dist/src/engine/). */
function candidatePaths(): string[] {
  const override = process.env['MOSAIC_NATIVE_PATH'];
  const rel = ['../../native/build/Release/mosaic_native.node', '../../../native/build/Release/mosaic_native.node'];
  return [...(override ? [override] : []), ...rel.map((r) => path.resolve(__dirname, r))];
}

let cached: LoadResult | undefined;

/** Loads the addon once; on failure records why (every path tried and its error). */
export function loadNative(): LoadResult {
  if (cached) return cached;
  const failures: string[] = [];
  for (const p of candidatePaths()) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const binding = require(p) as NativeBinding;
      binding.setErrorClass(MosaicError);
      cached = { ok: true, binding, path: p };
      return cached;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const msg = e.code === 'MODULE_NOT_FOUND' ? 'not built (file missing)' : (e.message ?? String(err)).split('\n')[0];
      failures.push(`${p}: ${msg}`);
    }
  }
  cached = {
    ok: false,
    reason: `native addon not loadable; build it with \`npm run install\` (node-gyp rebuild --directory native) (tried ${failures.join('; ')})`,
  };
  return cached;
}

function requireNative(): NativeBinding {
  const r = loadNative();
  if (!r.ok) throw new EngineError('E_NATIVE_UNAVAILABLE', r.reason);
  return r.binding;
}

export type BackendDescription =
  | { readonly backend: 'cpu'; readonly available: true; readonly cores: readonly number[] }
  | { readonly backend: 'cpu'; readonly available: false; readonly reason: string }
  | { readonly backend: 'cuda'; readonly available: true; readonly devices: readonly CudaDevice[]; readonly note: string }
  | { readonly backend: 'cuda'; readonly available: false; readonly reason: string };

/** Which backends can run here, and why not where they cannot. */
export function describeBackends(): BackendDescription[] {
  const r = loadNative();
  if (!r.ok) {
    return [
      { backend: 'cpu', available: false, reason: r.reason },
      { backend: 'cuda', available: false, reason: r.reason },
    ];
  }
  const probe = r.binding.cudaProbe();
  return [
    { backend: 'cpu', available: true, cores: r.binding.cpuInfo().allowedCores },
    probe.available
      ? { backend: 'cuda', available: true, devices: probe.devices, note: 'SM partitions (green contexts) only; op kernels are not implemented (E_CUDA_NO_KERNELS)' }
      : { backend: 'cuda', available: false, reason: probe.reason },
  ];
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

/**
 * Ops already validated, per buffers list and the buffer lengths they were checked against. A training
 * loop runs the same op objects on the same buffers every iteration; checking each op once per run
 * cost ~3 µs per op, more than the engine's own run for a small model. An op object changed after its
 * check cannot corrupt memory: the native side guards integer ranges and buffer lengths of every op.
 */
const validatedOps = new WeakMap<readonly Float32Array[], { readonly lengths: readonly number[]; readonly ops: WeakMap<Op, NormalizedOp> }>();

function validatedOpCache(buffers: readonly Float32Array[], lengths: readonly number[]): WeakMap<Op, NormalizedOp> {
  const entry = validatedOps.get(buffers);
  if (entry && entry.lengths.length === lengths.length && entry.lengths.every((n, i) => n === lengths[i])) return entry.ops;
  const ops = new WeakMap<Op, NormalizedOp>();
  validatedOps.set(buffers, { lengths, ops });
  return ops;
}

/**
 * Validates a whole graph (contexts, cores, tasks, deps, cycles, every op against the buffer sizes)
 * and returns the ops normalized. Throws EngineError with a stable code and a message for a person.
 * `allowedCores` (from the addon) adds the core-availability check.
 *
 * This is the one validation layer: the addon trusts it and only guards what would corrupt memory
 * or hang (native/src/graph.h guardGraph: integer ranges, buffer lengths, contexts without cores,
 * dependency cycles), so a graph that bypasses this function gets terse messages, not wrong results.
 */
export function validateGraph(graph: GraphSpec, allowedCores?: readonly number[]): NormalizedOp[][] {
  if (typeof graph !== 'object' || graph === null) throw new EngineError('E_BAD_GRAPH', 'Expected a graph object');
  if (!Array.isArray(graph.buffers)) throw new EngineError('E_BAD_GRAPH', 'Expected graph.buffers to be an array of Float32Array');
  graph.buffers.forEach((b, i) => {
    if (!(b instanceof Float32Array)) throw new EngineError('E_BUFFER_RANGE', `Expected buffer #${i} to be a Float32Array`);
  });
  if (!Array.isArray(graph.contexts) || !Array.isArray(graph.tasks)) {
    throw new EngineError('E_BAD_GRAPH', 'Expected graph.contexts and graph.tasks to be arrays');
  }
  const allowed = allowedCores ? new Set(allowedCores) : undefined;
  const coreOwner = new Map<number, number>();
  const ctxIds = new Set<number>();
  for (const c of graph.contexts) {
    if (!isInt(c.id)) throw new EngineError('E_BAD_GRAPH', `Expected a context id to be an integer but received ${String(c.id)}`);
    if (ctxIds.has(c.id)) throw new EngineError('E_BAD_GRAPH', `Context ${c.id} is declared twice`);
    ctxIds.add(c.id);
    if (!Array.isArray(c.cores) || c.cores.length === 0) throw new EngineError('E_CORES', `Expected context ${c.id} to have at least one core`);
    for (const core of c.cores) {
      if (!isInt(core) || core < 0) throw new EngineError('E_CORES', `Expected core ids of context ${c.id} to be integers >= 0 but received ${String(core)}`);
      if (allowed && !allowed.has(core)) {
        throw new EngineError('E_CORES', `Context ${c.id} asks for core ${core}, which this process cannot use (available: ${[...allowed].join(',')})`);
      }
      const owner = coreOwner.get(core);
      if (owner !== undefined) throw new EngineError('E_CORES', `Core ${core} is given to contexts ${owner} and ${c.id}; contexts need disjoint cores`);
      coreOwner.set(core, c.id);
    }
  }
  const lengths = graph.buffers.map((b) => b.length);
  const checked = validatedOpCache(graph.buffers, lengths);
  const validated = (op: Op, where: string): NormalizedOp => {
    let n = typeof op === 'object' && op !== null ? checked.get(op) : undefined;
    if (!n) {
      n = validateOp(op, lengths, where);
      checked.set(op, n);
    }
    return n;
  };
  const taskIds = new Map<number, number>();
  const normalized: NormalizedOp[][] = [];
  graph.tasks.forEach((t, ti) => {
    if (!isInt(t.id)) throw new EngineError('E_BAD_GRAPH', `Expected task #${ti} to have an integer id but received ${String(t.id)}`);
    if (taskIds.has(t.id)) throw new EngineError('E_BAD_GRAPH', `Task ${t.id} is declared twice`);
    taskIds.set(t.id, ti);
    if (!ctxIds.has(t.context)) throw new EngineError('E_BAD_GRAPH', `Task ${t.id} names unknown context ${String(t.context)}`);
    if (!Array.isArray(t.ops) || !Array.isArray(t.deps)) throw new EngineError('E_BAD_GRAPH', `Expected task ${t.id} to have ops and deps arrays`);
    normalized.push((t.ops as readonly Op[]).map((op: Op, k: number) => validated(op, `task ${t.id} op ${k}`)));
  });
  for (const t of graph.tasks) {
    const w = t.testWaitFor;
    if (w !== undefined && w !== 'cancel' && !(isInt(w) && taskIds.has(w) && w !== t.id)) {
      throw new EngineError('E_BAD_GRAPH', `Expected testWaitFor of task ${t.id} to be another task's id or 'cancel' but received ${String(w)}`);
    }
  }
  // Dependencies and cycles (Kahn's algorithm).
  const indeg = graph.tasks.map(() => 0);
  const out: number[][] = graph.tasks.map(() => []);
  graph.tasks.forEach((t, ti) => {
    for (const d of t.deps) {
      const di = taskIds.get(d);
      if (di === undefined) throw new EngineError('E_BAD_GRAPH', `Task ${t.id} depends on unknown task ${String(d)}`);
      if (di === ti) throw new EngineError('E_CYCLE', `Task ${t.id} depends on itself`);
      indeg[ti] = (indeg[ti] as number) + 1;
      (out[di] as number[]).push(ti);
    }
  });
  const queue = indeg.flatMap((d, i) => (d === 0 ? [i] : []));
  let seen = 0;
  while (queue.length > 0) {
    const i = queue.pop() as number;
    seen++;
    for (const s of out[i] as number[]) {
      indeg[s] = (indeg[s] as number) - 1;
      if (indeg[s] === 0) queue.push(s);
    }
  }
  if (seen !== graph.tasks.length) {
    const stuck = graph.tasks.filter((_, i) => (indeg[i] as number) > 0).map((t) => t.id);
    throw new EngineError('E_CYCLE', `The task graph has a dependency cycle through tasks ${stuck.slice(0, 8).join(', ')}`);
  }
  return normalized;
}

export type RunHandle = {
  /** Resolves when the run ends (also after cancel(): see GraphResult.cancelled). Rejects with EngineError. */
  readonly result: Promise<GraphResult>;
  /** Stops the run at the next op boundary; tasks not yet started never start. */
  cancel(): void;
};

/** Validates in TS, then starts the graph off the JS thread. Throws EngineError synchronously on bad input. */
export function startGraph(graph: GraphSpec): RunHandle {
  const binding = requireNative();
  const ops = validateGraph(graph, binding.cpuInfo().allowedCores);
  // The addon throws and rejects with MosaicError (EngineError) itself: nothing to convert.
  const handle = binding.runGraph({
    contexts: graph.contexts.map((c) => ({ id: c.id, cores: [...c.cores] })),
    tasks: graph.tasks.map((t, i) => ({
      id: t.id,
      context: t.context,
      ops: ops[i] as NormalizedOp[],
      deps: [...t.deps],
      ...(t.testWaitFor !== undefined ? { testWaitFor: t.testWaitFor } : {}),
    })),
    buffers: graph.buffers,
  });
  return { result: handle.promise, cancel: () => handle.cancel() };
}

/** Runs a graph; `signal` (e.g. wired to SIGINT) cancels it cleanly. */
export async function runGraph(graph: GraphSpec, options: { readonly signal?: AbortSignal } = {}): Promise<GraphResult> {
  const run = startGraph(graph);
  const { signal } = options;
  if (!signal) return run.result;
  if (signal.aborted) run.cancel();
  const onAbort = (): void => run.cancel();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await run.result;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Gives each module a disjoint set of cores in proportion to its quota (same rounding rule as
 * SM groups, with a granularity of one core). Throws E_BAD_QUOTA / E_PARTITION_INFEASIBLE.
 */
export function assignCpuCores(quotas: readonly ModuleQuota[], cores: readonly number[]): { readonly module: string; readonly cores: readonly number[] }[] {
  const p = partitionSms(quotas, { smCount: cores.length, minSms: 1, stepSms: 1 }, 'cores');
  let next = 0;
  return p.groups.map((g) => {
    const mine = cores.slice(next, next + g.smCount);
    next += g.smCount;
    return { module: g.module, cores: mine };
  });
}

/** CUDA driver probe; `{ available: false, reason }` when the addon or the driver is missing. */
export function cudaProbe(): CudaProbe {
  const r = loadNative();
  if (!r.ok) return { available: false, compiled: false, reason: r.reason, devices: [] };
  return r.binding.cudaProbe();
}

/** Splits one GPU's SMs into disjoint groups (one green context + stream each). */
export function cudaCreatePartition(device: number, smCounts: readonly number[]): CudaPartition {
  if (!isInt(device) || device < 0) throw new EngineError('E_CUDA_PARTITION', `Expected a device index >= 0 but received ${String(device)}`);
  smCounts.forEach((s, i) => {
    if (!isInt(s) || s < 1) throw new EngineError('E_CUDA_PARTITION', `Expected the SM count of group ${i} to be a positive integer but received ${String(s)}`);
  });
  return requireNative().cudaCreatePartition(device, smCounts);
}

export function cudaDestroyPartition(id: number): void {
  requireNative().cudaDestroyPartition(id);
}

/** The CUDA backend has no op kernels: this always throws (E_CUDA_UNAVAILABLE or E_CUDA_NO_KERNELS). */
export function cudaRunGraph(graph: GraphSpec): never {
  validateGraph(graph);
  return requireNative().cudaRunGraph(graph);
}
