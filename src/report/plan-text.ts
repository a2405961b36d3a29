import { GiB } from '../spec/problem';
import { fmtBytes, linkName, overLink } from '../perf/breakdown';
import { meaningOf } from '../spec/words';
import type { ModuleStage, ModuleTraffic, Plan, PlanGpu } from '../spec/plan';

const BAR_WIDTH = 40;

/** `████░░` bar for a quota: one character per 1/40 of the GPU. */
export function quotaBar(quotaFraction: number, width = BAR_WIDTH): string {
  const filled = Math.max(1, Math.round(quotaFraction * width));
  return '█'.repeat(Math.min(width, filled));
}

const fmtMs = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));

/** Consecutive GPUs with the same slots (same modules and quotas) print as one row. */
function gpuGroups(plan: Plan): { first: number; last: number; gpu: PlanGpu; memory: number }[] {
  const sig = (g: PlanGpu) => JSON.stringify(g.slots.map((s) => [s.modules, s.smCount]));
  const groups: { first: number; last: number; gpu: PlanGpu; memory: number }[] = [];
  plan.gpus.forEach((g, i) => {
    const memory = plan.prediction.memoryBytesPerGpu[i] ?? 0;
    const prev = groups[groups.length - 1];
    if (prev && prev.last === g.id - 1 && sig(prev.gpu) === sig(g)) {
      prev.last = g.id;
      prev.memory = Math.max(prev.memory, memory);
    } else groups.push({ first: g.id, last: g.id, gpu: g, memory });
  });
  return groups;
}

/** The per-GPU slot table with quota bars and memory. */
export function formatSlots(plan: Plan): string[] {
  const lines: string[] = [];
  const cap = plan.cluster.gpu.memoryGiB;
  lines.push(`  ${'GPUs'.padEnd(9)} ${'SMs'.padStart(4)}  ${'quota'.padEnd(BAR_WIDTH)}  modules (time-shared within a slot)`);
  for (const grp of gpuGroups(plan)) {
    const label = grp.first === grp.last ? `${grp.first}` : `${grp.first}-${grp.last}`;
    const mem = `${(grp.memory / GiB).toFixed(1)}/${cap} GiB`;
    if (grp.gpu.slots.length === 0) {
      lines.push(`  ${label.padEnd(9)} ${''.padStart(4)}  ${'·'.repeat(BAR_WIDTH)}  (idle)`);
      continue;
    }
    grp.gpu.slots.forEach((s, i) => {
      const bar = quotaBar(s.quotaFraction).padEnd(BAR_WIDTH, '·');
      const first = i === 0 ? label : '';
      const tail = i === 0 ? `   [${mem}]` : '';
      lines.push(`  ${first.padEnd(9)} ${String(s.smCount).padStart(4)}  ${bar}  ${s.modules.join(' + ')}${tail}`);
    });
  }
  return lines;
}

/** A readable summary of a plan: header, slot table, stages, prediction. */
export function formatPlan(plan: Plan): string[] {
  const c = plan.cluster;
  const p = plan.prediction;
  const lines = [
    `${plan.provenance}: ${plan.model.name} on ${c.name} (${c.nodes}×${c.gpusPerNode} ${c.gpu.name}, ${c.gpu.smCount} SMs, partitions of ${c.gpu.smGranularity.min}+${c.gpu.smGranularity.step}k SMs)`,
    `  iteration ${fmtMs(p.iterationMs)} ms, ${p.samplesPerSecond.toFixed(1)} samples/s, global batch ${plan.model.batch.global} in micro-batches of ${plan.model.batch.micro}`,
    `  this plan cannot simulate faster than ${fmtMs(p.lowerBoundMs)} ms (its own lower bound); performance model: ${p.perfSource}`,
    ...(plan.bound ? formatBound(plan) : []),
    ...formatSlots(plan),
    ...formatModules(p.stages, c.device, p.iterationMs),
  ];
  if (plan.solver) lines.push(`  throughput ILP (${plan.solver.backend}): ${plan.solver.status}${meaningOf(plan.solver.status) ? ` — ${meaningOf(plan.solver.status)}` : ''}`);
  return lines;
}

const traffic = (t: ModuleTraffic | undefined, device: string) => (t && t.bytes > 0 ? `${fmtBytes(t.bytes)} ${linkName(t.link, device)}` : '-');

/**
 * Where each module's iteration goes: compute, the gradient all-reduce (time, bytes each replica
 * sends, link), the activations it sends to other GPUs, idle; then which share of the iteration the
 * slowest all-reduce takes when it is large. Plan files from before these fields show `-`.
 */
export function formatModules(stages: readonly ModuleStage[], device: string, iterationMs: number): string[] {
  const cell = (v: number | undefined, w: number) => (v === undefined ? '-' : fmtMs(v)).padStart(w);
  const lines = [
    `  ${'module'.padEnd(16)} ${'replicas'.padStart(8)} ${'compute ms'.padStart(10)} ${'all-reduce ms'.padStart(13)}  ${'all-reduce size'.padEnd(22)} ${'activations sent'.padEnd(22)} ${'idle ms'.padStart(8)}`,
  ];
  for (const s of stages) {
    const c = s.communication;
    lines.push(`  ${s.module.padEnd(16)} ${String(s.replicas).padStart(8)} ${cell(s.computeMs ?? s.busyMs, 10)} ${cell(c?.allReduce.ms, 13)}  ${traffic(c?.allReduce, device).padEnd(22)} ${traffic(c?.activations, device).padEnd(22)} ${cell(s.idleMs, 8)}`);
  }
  const slowest = stages.reduce<ModuleStage | undefined>((a, s) => ((s.communication?.allReduce.ms ?? 0) > (a?.communication?.allReduce.ms ?? 0) ? s : a), undefined);
  const ms = slowest?.communication?.allReduce.ms ?? 0;
  if (slowest && ms >= 0.1 * iterationMs) {
    const a = slowest.communication!.allReduce;
    // Files from before the bucketed sync have neither field: the all-reduce then ran after the last backward.
    const bucketed = (a.buckets ?? 1) > 1;
    const buckets = bucketed ? ` in ${a.buckets} buckets` : '';
    const exposed = bucketed && a.exposedMs !== undefined ? `; ${fmtMs(a.exposedMs)} ms of it after the last backward, the rest under backwards` : '';
    // Mostly after the backward: the links, not the overlap, decide, and each bucket pays a ring latency.
    const hint = bucketed && a.exposedMs !== undefined && a.exposedMs > 0.5 * ms ? ' (larger buckets, optimizer.gradientBucketMiB, pay fewer latencies)' : '';
    lines.push(`  the gradient all-reduce of ${slowest.module} keeps the links busy ${fmtMs(ms)} ms of the ${fmtMs(iterationMs)} ms iteration (${((100 * ms) / iterationMs).toFixed(0)}%): ${fmtBytes(a.bytes)} per replica ${overLink(a.link, device)}${buckets}${exposed}${hint}`);
  }
  return lines;
}

/** The bound over the space and a plan's gap to it, in the one wording `plan`, `score` and `compare` share (src/spec/words.ts: gap). */
export function boundSentence(boundMs: number, gap: number, method: string): string {
  return `no plan in the space simulates faster than ${fmtMs(boundMs)} ms: this plan is within ${(100 * gap).toFixed(2)}% of the best possible (${method})`;
}

/** The bound over the plan space and this plan's proven gap to it, in words. */
export function formatBound(plan: Plan): string[] {
  const b = plan.bound!;
  return [
    `  ${boundSentence(b.boundMs, b.gap, b.method)}`,
    `  space: ${b.space}`,
  ];
}

export { fmtMs };
