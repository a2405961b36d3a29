import type { PlanGpu, PlanReplica } from '../spec/plan';
import { BYTES_PER_ELEMENT } from './kernels';
import { inflightLimit } from './memory';
import { interferenceFactor, type PerfModel } from './perf-model';
import { MEMORY_SATURATION_FRACTION } from './timing';

export type TaskKind = 'forward' | 'backward' | 'optimizer';

export type TimelineEvent = {
  readonly slot: string;
  readonly module: string;
  readonly kind: TaskKind;
  /** Global microbatch index (for optimizer steps, -1). */
  readonly microbatch: number;
  readonly startMs: number;
  readonly endMs: number;
};

export type Simulation = {
  readonly iterationMs: number;
  readonly timeline: readonly TimelineEvent[];
  /** Busy time per module: its busiest replica's compute and optimizer time. */
  readonly moduleBusyMs: ReadonlyMap<string, number>;
  readonly slotBusyMs: ReadonlyMap<string, number>;
  /** Time spent in gradient collectives per module (off the SMs in this model). */
  readonly syncMs: ReadonlyMap<string, number>;
};

type Task = {
  readonly id: number;
  readonly module: string;
  readonly replica: number;
  readonly slot: string;
  readonly kind: TaskKind;
  readonly microbatch: number;
  readonly durationMs: number;
  /** Tasks that wait for this one, with the transfer time on the way. */
  readonly dependents: { task: number; transferMs: number }[];
  pending: number;
  readyAtMs: number;
  startMs: number;
  endMs: number;
};

/**
 * Assigns the global microbatches to a module's replicas by smooth weighted round-robin, so each
 * replica's share is spread over the iteration and every module sees microbatches in the same order.
 */
export function assignMicrobatches(counts: readonly number[]): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  const given = counts.map(() => 0);
  const owner: number[] = [];
  for (let k = 0; k < total; k++) {
    let best = -1;
    let bestKey = Infinity;
    counts.forEach((n, r) => {
      if (given[r] >= n) return;
      const key = (given[r] + 1) / n;
      if (key < bestKey - 1e-12) {
        bestKey = key;
        best = r;
      }
    });
    owner.push(best);
    given[best]++;
  }
  return owner;
}

/**
 * Discrete-event simulation of one training iteration of a plan: microbatches flow forward through the
 * module DAG and backward in reverse, each slot runs one task at a time (backward first, then the
 * oldest forward), activations cross GPUs over the right link, a module's gradients are synchronised
 * once all its replicas finish, then each replica steps its optimizer on its own slot.
 */
export function simulateIteration(perf: PerfModel, gpus: readonly PlanGpu[], replicas: readonly PlanReplica[]): Simulation {
  const { model, cluster } = perf;
  const micro = model.batch.micro;
  const totalMicro = model.batch.global / micro;
  const e = BYTES_PER_ELEMENT[model.precision];
  const slotInfo = new Map<string, { gpu: number; node: number; quota: number; factor: number }>();
  for (const g of gpus) {
    for (const s of g.slots) {
      const neighbours = g.slots.filter((o) => o.id !== s.id);
      slotInfo.set(s.id, { gpu: g.id, node: g.node, quota: s.quotaFraction, factor: interferenceFactor(perf, neighbours) });
    }
  }
  const linkMs = (from: string, to: string, bytes: number): number => {
    const a = slotInfo.get(from)!, b = slotInfo.get(to)!;
    if (a.gpu === b.gpu) return 0;
    const gbps = a.node === b.node ? cluster.links.intraNodeGBps : cluster.links.interNodeGBps;
    return cluster.links.latencyUs / 1000 + bytes / (gbps * 1e6);
  };

  const tasks: Task[] = [];
  const newTask = (t: Omit<Task, 'id' | 'dependents' | 'pending' | 'readyAtMs' | 'startMs' | 'endMs'>): Task => {
    const task: Task = { ...t, id: tasks.length, dependents: [], pending: 0, readyAtMs: 0, startMs: NaN, endMs: NaN };
    tasks.push(task);
    return task;
  };
  const depend = (before: Task, after: Task, transferMs: number) => {
    before.dependents.push({ task: after.id, transferMs });
    after.pending++;
  };

  // Per module: which replica owns each global microbatch, and its forward/backward tasks.
  const replicasOf = new Map<string, PlanReplica[]>();
  for (const r of replicas) replicasOf.set(r.module, [...(replicasOf.get(r.module) ?? []), r]);
  const fwd = new Map<string, Task[]>();
  const bwd = new Map<string, Task[]>();
  for (const name of perf.order) {
    const reps = (replicasOf.get(name) ?? []).slice().sort((a, b) => a.index - b.index);
    const timing = perf.timings.get(name)!;
    const owner = assignMicrobatches(reps.map((r) => r.samples / micro));
    const f: Task[] = [];
    const b: Task[] = [];
    owner.forEach((ri, k) => {
      const rep = reps[ri];
      const info = slotInfo.get(rep.slot)!;
      f.push(newTask({ module: name, replica: rep.index, slot: rep.slot, kind: 'forward', microbatch: k, durationMs: timing.forwardMs(info.quota) * info.factor }));
      if (timing.backward !== 'none') {
        b.push(newTask({ module: name, replica: rep.index, slot: rep.slot, kind: 'backward', microbatch: k, durationMs: timing.backwardMs(info.quota) * info.factor }));
      }
    });
    fwd.set(name, f);
    bwd.set(name, b);
  }
  for (const m of model.modules) {
    const f = fwd.get(m.name)!;
    const b = bwd.get(m.name)!;
    for (let k = 0; k < totalMicro; k++) {
      for (const input of m.inputs) {
        const src = fwd.get(input)![k];
        const bytes = model.modules.find((x) => x.name === input)!.outputElementsPerSample * micro * e;
        depend(src, f[k], linkMs(src.slot, f[k].slot, bytes));
        const srcBwd = bwd.get(input)![k];
        if (srcBwd && b[k]) depend(b[k], srcBwd, linkMs(b[k].slot, srcBwd.slot, bytes));
      }
      if (b[k]) depend(f[k], b[k], 0);
    }
  }

  // In-flight limit per replica: forward k may start only while fewer than `limit` microbatches wait for backward.
  const limitOf = new Map<string, number>();
  const inflight = new Map<string, number>();
  for (const r of replicas) {
    const key = `${r.module}#${r.index}`;
    limitOf.set(key, perf.timings.get(r.module)!.backward === 'none' ? Infinity : inflightLimit(perf, r.module, r.samples / micro));
    inflight.set(key, 0);
  }

  const slotQueue = new Map<string, Task[]>();
  const slotFreeAt = new Map<string, number>();
  for (const id of slotInfo.keys()) {
    slotQueue.set(id, []);
    slotFreeAt.set(id, 0);
  }
  const timeline: TimelineEvent[] = [];
  const finishHeap: Task[] = [];
  let done = 0;
  const runnable = tasks.filter((t) => t.pending === 0);
  runnable.forEach((t) => slotQueue.get(t.slot)!.push(t));

  const priority = (t: Task) => (t.kind === 'backward' ? 0 : 1) * 1e9 + t.microbatch;
  const dispatch = (now: number) => {
    for (const [slot, queue] of slotQueue) {
      if (slotFreeAt.get(slot)! > now || queue.length === 0) continue;
      let best = -1;
      for (let i = 0; i < queue.length; i++) {
        const t = queue[i];
        if (t.readyAtMs > now) continue;
        if (t.kind === 'forward') {
          const key = `${t.module}#${t.replica}`;
          if (inflight.get(key)! >= limitOf.get(key)!) continue;
        }
        if (best < 0 || priority(t) < priority(queue[best])) best = i;
      }
      if (best < 0) continue;
      const t = queue.splice(best, 1)[0];
      t.startMs = now;
      t.endMs = now + t.durationMs;
      slotFreeAt.set(slot, t.endMs);
      if (t.kind === 'forward' && bwd.get(t.module)!.length > 0) {
        const key = `${t.module}#${t.replica}`;
        inflight.set(key, inflight.get(key)! + 1);
      }
      heapPush(finishHeap, t);
    }
  };
  const nextReady = (now: number): number => {
    let next = Infinity;
    for (const queue of slotQueue.values()) for (const t of queue) if (t.readyAtMs > now) next = Math.min(next, t.readyAtMs);
    return next;
  };

  let now = 0;
  dispatch(now);
  while (done < tasks.length) {
    const wake = nextReady(now);
    const top = finishHeap.length > 0 ? finishHeap[0].endMs : Infinity;
    if (top === Infinity && wake === Infinity) {
      throw new Error(`simulation deadlock: ${tasks.length - done} tasks cannot run (plan decoding bug)`);
    }
    now = Math.min(top, wake);
    while (finishHeap.length > 0 && finishHeap[0].endMs <= now) {
      const t = heapPop(finishHeap);
      done++;
      timeline.push({ slot: t.slot, module: t.module, kind: t.kind, microbatch: t.microbatch, startMs: t.startMs, endMs: t.endMs });
      if (t.kind === 'backward') {
        const key = `${t.module}#${t.replica}`;
        inflight.set(key, inflight.get(key)! - 1);
      }
      for (const d of t.dependents) {
        const next = tasks[d.task];
        next.readyAtMs = Math.max(next.readyAtMs, t.endMs + d.transferMs);
        if (--next.pending === 0) slotQueue.get(next.slot)!.push(next);
      }
    }
    dispatch(now);
  }

  // Gradient synchronisation, then one optimizer step per replica on its own slot.
  const syncMs = new Map<string, number>();
  const slotEnd = new Map<string, number>();
  for (const ev of timeline) slotEnd.set(ev.slot, Math.max(slotEnd.get(ev.slot) ?? 0, ev.endMs));
  let iterationMs = Math.max(0, ...timeline.map((t) => t.endMs));
  for (const m of model.modules) {
    if (!m.trainable) continue;
    const reps = replicasOf.get(m.name) ?? [];
    const params = perf.timings.get(m.name)!.params;
    const lastBackward = Math.max(0, ...bwd.get(m.name)!.map((t) => t.endMs));
    const sync = allReduceMs(perf, reps.map((r) => slotInfo.get(r.slot)!.node), params * e) * (model.optimizer.zeroStage >= 3 ? 1.5 : 1);
    syncMs.set(m.name, sync);
    const shard = model.optimizer.zeroStage >= 1 ? reps.length : 1;
    for (const r of reps) {
      const info = slotInfo.get(r.slot)!;
      const bytes = (params / shard) * (model.optimizer.stateBytesPerParam + 2 * e) * 2;
      const stepMs = bytes / (cluster.gpu.hbmGBps * 1e6 * Math.min(1, info.quota / MEMORY_SATURATION_FRACTION));
      const start = Math.max(lastBackward + sync, slotEnd.get(r.slot) ?? 0);
      const end = start + stepMs;
      slotEnd.set(r.slot, end);
      timeline.push({ slot: r.slot, module: m.name, kind: 'optimizer', microbatch: -1, startMs: start, endMs: end });
      iterationMs = Math.max(iterationMs, end);
    }
  }

  const slotBusyMs = new Map<string, number>();
  const replicaBusy = new Map<string, number>();
  for (const ev of timeline) {
    slotBusyMs.set(ev.slot, (slotBusyMs.get(ev.slot) ?? 0) + ev.endMs - ev.startMs);
    const key = `${ev.module}@${ev.slot}`;
    replicaBusy.set(key, (replicaBusy.get(key) ?? 0) + ev.endMs - ev.startMs);
  }
  const moduleBusyMs = new Map<string, number>();
  for (const [key, ms] of replicaBusy) {
    const module = key.slice(0, key.indexOf('@'));
    moduleBusyMs.set(module, Math.max(moduleBusyMs.get(module) ?? 0, ms));
  }
  timeline.sort((a, b) => a.startMs - b.startMs || a.slot.localeCompare(b.slot));
  return { iterationMs, timeline, moduleBusyMs, slotBusyMs, syncMs };
}

/** Ring all-reduce of `bytes` over replicas on the given nodes: 2(R−1)/R of the data over the slowest link. */
export function allReduceMs(perf: PerfModel, nodes: readonly number[], bytes: number): number {
  const r = nodes.length;
  if (r <= 1) return 0;
  const links = perf.cluster.links;
  const gbps = new Set(nodes).size > 1 ? links.interNodeGBps : links.intraNodeGBps;
  return (2 * (r - 1) * links.latencyUs) / 1000 + ((2 * (r - 1)) / r) * (bytes / (gbps * 1e6));
}

function heapPush(heap: Task[], t: Task): void {
  heap.push(t);
  let i = heap.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (heap[p].endMs <= heap[i].endMs) break;
    [heap[p], heap[i]] = [heap[i], heap[p]];
    i = p;
  }
}

function heapPop(heap: Task[]): Task {
  const top = heap[0];
  const last = heap.pop()!;
  if (heap.length > 0) {
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < heap.length && heap[l].endMs < heap[m].endMs) m = l;
      if (r < heap.length && heap[r].endMs < heap[m].endMs) m = r;
      if (m === i) break;
      [heap[m], heap[i]] = [heap[i], heap[m]];
      i = m;
    }
  }
  return top;
}
