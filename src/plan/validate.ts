import { buildPerfModel } from '../perf/perf-model';
import { planMemoryBytes } from '../perf/memory';
import type { Plan, PlanFile } from '../spec/plan';
import { GiB, problemOf } from '../spec/problem';

const EPS = 1e-9;

/**
 * The one independent check every plan passes before it is printed, written or executed.
 * It re-derives everything from the plan's own model and cluster: quota sums, SM granularity,
 * placement of every module, batch coverage, DAG inputs and memory. Returns one line per problem.
 */
export function validatePlan(plan: Plan | PlanFile): string[] {
  const problems: string[] = [];
  const { model, cluster } = plan;
  const g = cluster.gpu;
  const problem = problemOf(model, cluster);
  const totalGpus = problem.gpuCount;
  const moduleNames = new Set(model.modules.map((m) => m.name));
  const slotModules = new Map<string, readonly string[]>();
  const gpuIds = new Set<number>();

  for (const gpu of plan.gpus) {
    if (!Number.isInteger(gpu.id) || gpu.id < 0 || gpu.id >= totalGpus) problems.push(`gpu ${gpu.id}: no such GPU in a cluster of ${totalGpus}`);
    if (gpuIds.has(gpu.id)) problems.push(`gpu ${gpu.id}: listed twice`);
    gpuIds.add(gpu.id);
    if (gpu.node !== problem.nodeOf(gpu.id)) problems.push(`gpu ${gpu.id}: is on node ${problem.nodeOf(gpu.id)}, plan says ${gpu.node}`);
    let quotaSum = 0;
    let smSum = 0;
    for (const slot of gpu.slots) {
      if (slotModules.has(slot.id)) problems.push(`slot ${slot.id}: id used twice`);
      slotModules.set(slot.id, slot.modules);
      if (!(slot.quotaFraction > 0 && slot.quotaFraction <= 1 + EPS)) problems.push(`slot ${slot.id}: quota ${slot.quotaFraction} is not in (0, 1]`);
      quotaSum += slot.quotaFraction;
      smSum += slot.smCount;
      if (Math.abs(slot.smCount - slot.quotaFraction * g.smCount) > 0.5) problems.push(`slot ${slot.id}: ${slot.smCount} SMs does not match quota ${slot.quotaFraction} of ${g.smCount}`);
      const onGrid = slot.smCount === g.smCount || (slot.smCount >= g.smGranularity.min && (slot.smCount - g.smGranularity.min) % g.smGranularity.step === 0);
      if (!onGrid) problems.push(`slot ${slot.id}: ${slot.smCount} SMs is not a partition size of ${g.name} (minimum ${g.smGranularity.min}, step ${g.smGranularity.step})`);
      if (slot.modules.length === 0) problems.push(`slot ${slot.id}: runs no module`);
      for (const m of slot.modules) if (!moduleNames.has(m)) problems.push(`slot ${slot.id}: module "${m}" is not in model ${model.name}`);
    }
    if (quotaSum > 1 + EPS || smSum > g.smCount) problems.push(`gpu ${gpu.id}: quotas sum to ${quotaSum.toFixed(4)} (${smSum} of ${g.smCount} SMs), more than the whole GPU`);
  }

  const samples = new Map<string, number>();
  const indices = new Map<string, Set<number>>();
  const hosted = new Set<string>();
  for (const r of plan.replicas) {
    if (!moduleNames.has(r.module)) {
      problems.push(`replica ${r.module}#${r.index}: module "${r.module}" is not in model ${model.name}`);
      continue;
    }
    const mods = slotModules.get(r.slot);
    if (!mods) problems.push(`replica ${r.module}#${r.index}: slot ${r.slot} does not exist`);
    else if (!mods.includes(r.module)) problems.push(`replica ${r.module}#${r.index}: slot ${r.slot} does not list module ${r.module}`);
    hosted.add(`${r.module}@${r.slot}`);
    if (!Number.isInteger(r.samples) || r.samples <= 0 || r.samples % model.batch.micro !== 0) {
      problems.push(`replica ${r.module}#${r.index}: ${r.samples} samples is not a positive multiple of the micro-batch ${model.batch.micro}`);
    }
    samples.set(r.module, (samples.get(r.module) ?? 0) + r.samples);
    const seen = indices.get(r.module) ?? new Set<number>();
    if (seen.has(r.index)) problems.push(`replica ${r.module}#${r.index}: index used twice`);
    seen.add(r.index);
    indices.set(r.module, seen);
  }
  for (const [slot, mods] of slotModules) {
    for (const m of mods) if (moduleNames.has(m) && !hosted.has(`${m}@${slot}`)) problems.push(`slot ${slot}: lists module ${m} but no replica of it runs there`);
  }
  for (const m of model.modules) {
    const got = samples.get(m.name) ?? 0;
    if (got === 0) problems.push(`module ${m.name}: not placed on any GPU`);
    else if (got !== model.batch.global) problems.push(`module ${m.name}: replicas cover ${got} samples, the global batch is ${model.batch.global}`);
    for (const input of m.inputs) if (!moduleNames.has(input)) problems.push(`module ${m.name}: input "${input}" is not in the model`);
  }
  if (problems.length > 0) return problems;

  const perf = buildPerfModel(model, cluster, plan.profile);
  const memory = planMemoryBytes(perf, plan.gpus, plan.replicas);
  plan.gpus.forEach((gpu, i) => {
    if (memory[i] > problem.capacityBytes) {
      problems.push(`gpu ${gpu.id}: needs ${(memory[i] / GiB).toFixed(1)} GiB, a ${g.name} has ${g.memoryGiB} GiB`);
    }
  });
  // A plan file written by hand may have no prediction yet (loadPlan simulates it, then checks it here).
  const p = plan.prediction;
  if (!p) return problems;
  if (!(Number.isFinite(p.iterationMs) && p.iterationMs > 0)) problems.push(`prediction: iteration time ${p.iterationMs} is not a positive number`);
  if (p.iterationMs < p.lowerBoundMs * (1 - 1e-9)) problems.push(`prediction: iteration ${p.iterationMs} ms beats the lower bound ${p.lowerBoundMs} ms, which no plan can`);
  return problems;
}
