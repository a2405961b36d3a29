import { writeFileAtomic } from '../io/atomic-write';
import { buildPerfModel } from '../perf/perf-model';
import { simulateIteration, type Simulation } from '../perf/simulate';
import type { Plan } from '../spec/plan';

/**
 * The simulated iteration in the Chrome Trace Event Format (JSON object form), which Perfetto
 * (ui.perfetto.dev), chrome://tracing and the PyTorch profiler's viewers read: complete events
 * (`ph: "X"`, `ts` and `dur` in microseconds), one process per GPU and one thread per slot, named by
 * metadata events (`ph: "M"`, `process_name` / `thread_name`). Compute tasks (category `compute`)
 * sit on their slot's thread; communication (category `communication`: gradient all-reduce,
 * activations sent to another GPU) on threads of their own beside it, split so that no two events
 * of one thread overlap.
 */
export type TraceEvent = {
  readonly name: string;
  readonly cat?: string;
  readonly ph: 'X' | 'M';
  readonly ts?: number;
  readonly dur?: number;
  readonly pid: number;
  readonly tid?: number;
  readonly args: Readonly<Record<string, unknown>>;
};

export type ChromeTrace = {
  readonly traceEvents: readonly TraceEvent[];
  readonly displayTimeUnit: 'ms';
  readonly otherData: Readonly<Record<string, unknown>>;
};

/** Thread ids: slot i computes on tid i + 1; its communication on tid 1000 + 100·i + lane. */
const computeTid = (slotIndex: number) => slotIndex + 1;
const commTid = (slotIndex: number, lane: number) => 1000 + 100 * slotIndex + lane;
/** GPU g is process g + 1 (some viewers treat pid 0 as the idle process). */
const gpuPid = (gpu: number) => gpu + 1;
const us = (ms: number) => ms * 1000;

export function chromeTrace(plan: Plan, sim: Simulation): ChromeTrace {
  const where = new Map<string, { pid: number; index: number }>();
  const events: TraceEvent[] = [];
  for (const g of plan.gpus) {
    events.push({ name: 'process_name', ph: 'M', pid: gpuPid(g.id), args: { name: `GPU ${g.id} (node ${g.node})` } });
    events.push({ name: 'process_sort_index', ph: 'M', pid: gpuPid(g.id), args: { sort_index: g.id } });
    g.slots.forEach((s, i) => {
      where.set(s.id, { pid: gpuPid(g.id), index: i });
      events.push({ name: 'thread_name', ph: 'M', pid: gpuPid(g.id), tid: computeTid(i), args: { name: `slot ${s.id} · ${s.smCount} SMs · ${s.modules.join('+')}` } });
      events.push({ name: 'thread_sort_index', ph: 'M', pid: gpuPid(g.id), tid: computeTid(i), args: { sort_index: computeTid(i) } });
    });
  }
  for (const ev of sim.timeline) {
    const w = where.get(ev.slot);
    if (!w) continue;
    const name = ev.kind === 'optimizer' ? `${ev.module} optimizer step` : `${ev.module} ${ev.kind} ${ev.microbatch}`;
    events.push({
      name,
      cat: 'compute',
      ph: 'X',
      ts: us(ev.startMs),
      dur: us(ev.endMs - ev.startMs),
      pid: w.pid,
      tid: computeTid(w.index),
      args: { module: ev.module, kind: ev.kind, ...(ev.microbatch >= 0 ? { microbatch: ev.microbatch } : {}), slot: ev.slot },
    });
  }
  // Communication: per slot, lanes filled greedily so that events of one thread never overlap.
  const laneEnds = new Map<string, number[]>();
  const named = new Set<string>();
  for (const c of sim.communication) {
    const slots = c.kind === 'all-reduce' ? c.slots : c.slots.slice(0, 1);
    for (const slot of slots) {
      const w = where.get(slot);
      if (!w) continue;
      const ends = laneEnds.get(slot) ?? [];
      laneEnds.set(slot, ends);
      let lane = ends.findIndex((end) => end <= c.startMs);
      if (lane < 0) lane = ends.push(0) - 1;
      ends[lane] = c.endMs;
      const tid = commTid(w.index, lane);
      const key = `${w.pid}/${tid}`;
      if (!named.has(key)) {
        named.add(key);
        events.push({ name: 'thread_name', ph: 'M', pid: w.pid, tid, args: { name: `slot ${slot} · communication${lane > 0 ? ` ${lane + 1}` : ''}` } });
        events.push({ name: 'thread_sort_index', ph: 'M', pid: w.pid, tid, args: { sort_index: tid } });
      }
      const name = c.kind === 'all-reduce' ? `${c.module} gradient all-reduce` : `${c.module} ${c.kind === 'activations' ? 'activations' : 'activation gradients'} ${c.microbatch}`;
      events.push({
        name,
        cat: 'communication',
        ph: 'X',
        ts: us(c.startMs),
        dur: us(c.endMs - c.startMs),
        pid: w.pid,
        tid,
        args: { module: c.module, kind: c.kind, ...(c.microbatch >= 0 ? { microbatch: c.microbatch } : {}), link: c.link, bytes: c.bytes, slots: c.slots },
      });
    }
  }
  return {
    traceEvents: events,
    displayTimeUnit: 'ms',
    otherData: { tool: 'mosaic (simulated iteration)', model: plan.model.name, cluster: plan.cluster.name, provenance: plan.provenance, iterationMs: sim.iterationMs },
  };
}

/** Simulates the plan under its own performance model and writes its trace to `file` atomically; returns the event count. */
export function writeTrace(file: string, plan: Plan, sim?: Simulation): number {
  const s = sim ?? simulateIteration(buildPerfModel(plan.model, plan.cluster, plan.profile), plan.gpus, plan.replicas);
  const trace = chromeTrace(plan, s);
  writeFileAtomic(file, JSON.stringify(trace) + '\n');
  return trace.traceEvents.filter((e) => e.ph === 'X').length;
}
