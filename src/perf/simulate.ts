import type { PlanGpu, PlanReplica } from '../spec/plan';
import { BYTES_PER_ELEMENT } from './kernels';
import { inflightLimit } from './memory';
import { interferenceFactor, type PerfModel } from './perf-model';
import { Heap } from './heap';
import { physicsFor } from './physics';
import { collectiveStretchMs, distinctNodes, gradientSync, optimizerStepMs, syncTailAfterBackwardMs, transferMs, type GradientSync, type LinkKind } from './sync';

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

/**
 * Data moved between GPUs: a module's gradient all-reduce over its replicas (once per iteration, in
 * buckets from its first bucket's start to its last's end), or one microbatch's activations (forward) or activation gradients (backward)
 * sent by `module` to a consumer on another GPU.
 */
export type CommunicationEvent = {
  readonly kind: 'all-reduce' | 'activations' | 'activation-gradients';
  /** The module whose gradients are reduced, or which sends the data. */
  readonly module: string;
  /** Global microbatch index (for the all-reduce, -1). */
  readonly microbatch: number;
  /** Slots taking part: every replica's slot for an all-reduce; sender then receiver for a transfer. */
  readonly slots: readonly string[];
  readonly link: LinkKind;
  /** Bytes each replica contributes to the all-reduce, or bytes sent. */
  readonly bytes: number;
  readonly startMs: number;
  readonly endMs: number;
  /** For the all-reduce: how long it runs on after the module's last backward ends (the rest hides under backwards). */
  readonly exposedMs?: number;
  /** For the all-reduce: the buckets its gradients travel in. */
  readonly buckets?: number;
};

export type Simulation = {
  readonly iterationMs: number;
  readonly timeline: readonly TimelineEvent[];
  /** Busy time per module: its busiest replica's compute and optimizer time. */
  readonly moduleBusyMs: ReadonlyMap<string, number>;
  readonly slotBusyMs: ReadonlyMap<string, number>;
  /** Time the links spend in a module's gradient collectives, all buckets together (off the SMs in this model). */
  readonly syncMs: ReadonlyMap<string, number>;
  /** Every all-reduce and every transfer between GPUs, by start time. */
  readonly communication: readonly CommunicationEvent[];
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
 * in buckets while its replicas' last backwards run (src/perf/sync.ts, syncTailMs), then each replica
 * steps its optimizer on its own slot.
 */
export function simulateIteration(perf: PerfModel, gpus: readonly PlanGpu[], replicas: readonly PlanReplica[]): Simulation {
  const { model } = perf;
  const micro = model.batch.micro;
  const totalMicro = perf.microbatches;
  const e = BYTES_PER_ELEMENT[model.precision];
  const slotInfo = new Map<string, { gpu: number; node: number; quota: number; factor: number }>();
  for (const g of gpus) {
    for (const s of g.slots) {
      const neighbours = g.slots.filter((o) => o.id !== s.id);
      slotInfo.set(s.id, { gpu: g.id, node: g.node, quota: s.quotaFraction, factor: interferenceFactor(perf, neighbours, s) });
    }
  }
  // The CPU engine's own costs, when a profile measured them: per task on its slot, per dependency
  // between two slots of one device (the waiting context is woken), and once per iteration.
  const engine = perf.engineCosts;
  const taskCostMs = engine?.perTaskMs ?? 0;
  const collectiveSmFraction = physicsFor(perf.cluster).collectiveSmFraction;
  const linkMs = (from: string, to: string, bytes: number): number => {
    const a = slotInfo.get(from)!, b = slotInfo.get(to)!;
    if (a.gpu === b.gpu) return from === to ? 0 : engine?.perHopMs ?? 0;
    return transferMs(perf, a.node === b.node, bytes);
  };

  const tasks: Task[] = [];
  const newTask = (t: Omit<Task, 'id' | 'dependents' | 'pending' | 'readyAtMs' | 'startMs' | 'endMs'>): Task => {
    // Every field written out in one order (not a spread): one object shape for every task, which V8
    // handles several times faster at the 100,000 tasks of thousands of microbatches.
    const task: Task = { id: tasks.length, module: t.module, replica: t.replica, slot: t.slot, kind: t.kind, microbatch: t.microbatch, durationMs: t.durationMs, dependents: [], pending: 0, readyAtMs: 0, startMs: NaN, endMs: NaN };
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
  // Per trainable module: its gradient sync, computed once (it lengthens the last backwards, then ends the iteration).
  const syncOf = new Map<string, GradientSync>();
  const fwd = new Map<string, Task[]>();
  const bwd = new Map<string, Task[]>();
  for (const name of perf.order) {
    const reps = (replicasOf.get(name) ?? []).slice().sort((a, b) => a.index - b.index);
    const timing = perf.timings.get(name)!;
    const owner = assignMicrobatches(reps.map((r) => r.samples / micro));
    const f: Task[] = [];
    const b: Task[] = [];
    // A replica's task times depend only on its slot: computed once per slot, not once per microbatch
    // (the kernel-level timing made this the simulator's main cost at thousands of microbatches).
    const durations = new Map<string, { forwardMs: number; backwardMs: number }>();
    const durationsOf = (slot: string) => {
      let d = durations.get(slot);
      if (!d) {
        const info = slotInfo.get(slot)!;
        d = {
          forwardMs: timing.forwardMs(info.quota) * info.factor + taskCostMs,
          backwardMs: timing.backward !== 'none' ? timing.backwardMs(info.quota) * info.factor + taskCostMs : 0,
        };
        durations.set(slot, d);
      }
      return d;
    };
    // The gradient collective overlaps each replica's last backward (its last microbatch, the one the
    // runtime arms) and holds a share of the SMs meanwhile (physics: collectiveSmFraction), so the part
    // it overlaps runs on the rest (collectiveStretchMs).
    const nodes = reps.map((r) => slotInfo.get(r.slot)!.node);
    const sync = perf.moduleByName.get(name)!.trainable ? gradientSync(perf, name, reps.length, distinctNodes(nodes)) : undefined;
    if (sync) syncOf.set(name, sync);
    const lastBackwardMs = (d: number) => (sync ? d + collectiveStretchMs(sync, d, collectiveSmFraction) : d);
    const lastK = new Map<number, number>();
    owner.forEach((ri, k) => lastK.set(ri, k));
    owner.forEach((ri, k) => {
      const rep = reps[ri];
      const d = durationsOf(rep.slot);
      f.push(newTask({ module: name, replica: rep.index, slot: rep.slot, kind: 'forward', microbatch: k, durationMs: d.forwardMs }));
      if (timing.backward !== 'none') {
        b.push(newTask({ module: name, replica: rep.index, slot: rep.slot, kind: 'backward', microbatch: k, durationMs: lastK.get(ri) === k ? lastBackwardMs(d.backwardMs) : d.backwardMs }));
      }
    });
    fwd.set(name, f);
    bwd.set(name, b);
  }
  const outputBytes = new Map(model.modules.map((m) => [m.name, m.outputElementsPerSample * micro * e]));
  for (const m of model.modules) {
    const f = fwd.get(m.name)!;
    const b = bwd.get(m.name)!;
    for (let k = 0; k < totalMicro; k++) {
      for (const input of m.inputs) {
        const src = fwd.get(input)![k];
        const bytes = outputBytes.get(input)!;
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

  // Tasks whose inputs are done wait in `waiting` until their data arrives, then join their slot's
  // ready heap (backward first, then the oldest microbatch). A forward over its replica's in-flight
  // limit parks in `blocked` until one of that replica's backwards finishes.
  const priorityLess = (a: Task, b: Task) => (a.kind === b.kind ? a.microbatch < b.microbatch : a.kind === 'backward');
  const ready = new Map<string, Heap<Task>>();
  const slotBusyUntil = new Map<string, number>();
  for (const id of slotInfo.keys()) {
    ready.set(id, new Heap(priorityLess));
    slotBusyUntil.set(id, 0);
  }
  const waiting = new Heap<Task>((a, b) => a.readyAtMs < b.readyAtMs);
  const running = new Heap<Task>((a, b) => a.endMs < b.endMs);
  // Per replica, forwards held back by its in-flight limit, best first: one backward frees one place,
  // so one forward goes back to the ready heap (re-queueing all of them made the loop quadratic).
  const blocked = new Map<string, Heap<Task>>();
  const replicaKey = (t: Task) => `${t.module}#${t.replica}`;
  const hasBackward = new Set([...bwd].filter(([, b]) => b.length > 0).map(([m]) => m));
  const timeline: TimelineEvent[] = [];
  for (const t of tasks) if (t.pending === 0) waiting.push(t);

  const dispatch = (slot: string, now: number) => {
    if (slotBusyUntil.get(slot)! > now) return;
    const heap = ready.get(slot)!;
    for (let t = heap.pop(); t; t = heap.pop()) {
      if (t.kind === 'forward' && hasBackward.has(t.module)) {
        const key = replicaKey(t);
        if (inflight.get(key)! >= limitOf.get(key)!) {
          let held = blocked.get(key);
          if (!held) blocked.set(key, (held = new Heap(priorityLess)));
          held.push(t);
          continue;
        }
        inflight.set(key, inflight.get(key)! + 1);
      }
      t.startMs = now;
      t.endMs = now + t.durationMs;
      slotBusyUntil.set(slot, t.endMs);
      running.push(t);
      return;
    }
  };

  let done = 0;
  let now = 0;
  while (done < tasks.length) {
    const touched = new Set<string>();
    while (waiting.size > 0 && waiting.peek()!.readyAtMs <= now) {
      const t = waiting.pop()!;
      ready.get(t.slot)!.push(t);
      touched.add(t.slot);
    }
    while (running.size > 0 && running.peek()!.endMs <= now) {
      const t = running.pop()!;
      done++;
      touched.add(t.slot);
      timeline.push({ slot: t.slot, module: t.module, kind: t.kind, microbatch: t.microbatch, startMs: t.startMs, endMs: t.endMs });
      if (t.kind === 'backward') {
        const key = replicaKey(t);
        inflight.set(key, inflight.get(key)! - 1);
        const next = blocked.get(key)?.pop();
        if (next) ready.get(next.slot)!.push(next);
      }
      for (const d of t.dependents) {
        const next = tasks[d.task];
        next.readyAtMs = Math.max(next.readyAtMs, t.endMs + d.transferMs);
        if (--next.pending === 0) {
          if (next.readyAtMs <= now) {
            ready.get(next.slot)!.push(next);
            touched.add(next.slot);
          } else waiting.push(next);
        }
      }
    }
    for (const slot of touched) dispatch(slot, now);
    // Blocked forwards re-entered heaps of slots not touched above only when their backward finished, which touched them.
    const nextTime = Math.min(running.peek()?.endMs ?? Infinity, waiting.peek()?.readyAtMs ?? Infinity);
    if (nextTime === Infinity) {
      if (done < tasks.length) throw new Error(`simulation deadlock: ${tasks.length - done} tasks cannot run (plan decoding bug)`);
      break;
    }
    now = nextTime;
  }

  // Activations and their gradients that crossed GPUs, at the times the dependencies above charged them.
  const communication: CommunicationEvent[] = [];
  const transfer = (kind: 'activations' | 'activation-gradients', from: Task, to: Task, bytes: number) => {
    const a = slotInfo.get(from.slot)!, b = slotInfo.get(to.slot)!;
    if (a.gpu === b.gpu) return;
    communication.push({ kind, module: from.module, microbatch: from.microbatch, slots: [from.slot, to.slot], link: a.node === b.node ? 'intra-node' : 'inter-node', bytes, startMs: from.endMs, endMs: from.endMs + linkMs(from.slot, to.slot, bytes) });
  };
  for (const m of model.modules) {
    const f = fwd.get(m.name)!;
    const b = bwd.get(m.name)!;
    for (let k = 0; k < totalMicro; k++) {
      for (const input of m.inputs) {
        const bytes = outputBytes.get(input)!;
        transfer('activations', fwd.get(input)![k], f[k], bytes);
        const srcBwd = bwd.get(input)![k];
        if (srcBwd && b[k]) transfer('activation-gradients', b[k], srcBwd, bytes);
      }
    }
  }

  // Gradient synchronisation, then one optimizer step per replica on its own slot (src/perf/sync.ts).
  const syncMs = new Map<string, number>();
  const slotEnd = new Map<string, number>();
  for (const ev of timeline) slotEnd.set(ev.slot, Math.max(slotEnd.get(ev.slot) ?? 0, ev.endMs));
  let iterationMs = 0;
  for (const ev of timeline) iterationMs = Math.max(iterationMs, ev.endMs);
  const fixedMs = engine?.perGraphMs ?? 0;
  for (const m of model.modules) {
    if (!m.trainable) continue;
    const reps = replicasOf.get(m.name) ?? [];
    // Each replica's last backward: its buckets become ready while it runs (syncTailMs).
    const last = new Map<number, Task>();
    for (const t of bwd.get(m.name)!) {
      const before = last.get(t.replica);
      if (!before || t.endMs > before.endMs) last.set(t.replica, t);
    }
    const allReduce = syncOf.get(m.name)!;
    syncMs.set(m.name, allReduce.ms);
    let syncEnd = 0;
    let firstBucket = 0;
    let lastEnd = 0;
    for (const t of last.values()) {
      lastEnd = Math.max(lastEnd, t.endMs);
      const d = t.endMs - t.startMs;
      syncEnd = Math.max(syncEnd, t.endMs + syncTailAfterBackwardMs(allReduce, d));
      firstBucket = Math.max(firstBucket, t.startMs + d / allReduce.buckets);
    }
    if (reps.length > 1) communication.push({ kind: 'all-reduce', module: m.name, microbatch: -1, slots: reps.map((r) => r.slot), link: allReduce.link, bytes: allReduce.bytes, startMs: firstBucket, endMs: syncEnd, exposedMs: syncEnd - lastEnd, buckets: allReduce.buckets });
    for (const r of reps) {
      const info = slotInfo.get(r.slot)!;
      const stepMs = optimizerStepMs(perf, m.name, reps.length, info.quota);
      const start = Math.max(syncEnd, slotEnd.get(r.slot) ?? 0);
      const end = start + stepMs;
      slotEnd.set(r.slot, end);
      timeline.push({ slot: r.slot, module: m.name, kind: 'optimizer', microbatch: -1, startMs: start, endMs: end });
      iterationMs = Math.max(iterationMs, end);
    }
  }

  iterationMs += fixedMs;

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
  communication.sort((a, b) => a.startMs - b.startMs || a.module.localeCompare(b.module));
  return { iterationMs, timeline, moduleBusyMs, slotBusyMs, syncMs, communication };
}
