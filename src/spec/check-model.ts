import type { ModelSpec } from './types';

/**
 * Micro-batches per iteration (global / micro) are at most this many: the simulator runs every one of
 * them, event by event (2,048 for a 6-module model on 8 GPUs take ~15 s on a loaded 2-core machine, 4,096 over 60 s; a global batch of 2^53 hung). Real
 * pipelines run tens to a few thousand per iteration; for more, raise the micro-batch.
 */
export const MAX_MICROBATCHES = 2048;

/** The batch problems of a global batch and micro-batch, as `/json/pointer: message` lines. */
export function checkBatch(global: number, micro: number): string[] {
  const problems: string[] = [];
  if (micro > global) problems.push(`/batch/micro: micro-batch ${micro} is larger than the global batch ${global}`);
  if (global % micro !== 0) problems.push(`/batch/global: global batch ${global} is not a multiple of the micro-batch ${micro}`);
  else if (global / micro > MAX_MICROBATCHES) {
    problems.push(`/batch: ${global / micro} micro-batches per iteration (global ${global} / micro ${micro}) is more than ${MAX_MICROBATCHES}, the most the simulator runs; raise the micro-batch`);
  }
  return problems;
}

/**
 * Checks a schema-valid model for what a schema cannot say: inputs that name no module, cycles in the
 * module DAG, duplicate names, shapes that do not divide. Returns `/json/pointer: message` lines.
 */
export function checkModelSemantics(model: ModelSpec): string[] {
  const problems: string[] = [];
  const index = new Map<string, number>();
  model.modules.forEach((m, i) => {
    if (index.has(m.name)) problems.push(`/modules/${i}/name: duplicate module name "${m.name}" (also /modules/${index.get(m.name)})`);
    else index.set(m.name, i);
  });
  const names = [...index.keys()];
  model.modules.forEach((m, i) => {
    m.inputs.forEach((input, j) => {
      if (input === m.name) problems.push(`/modules/${i}/inputs/${j}: module "${m.name}" cannot consume its own output`);
      else if (!index.has(input)) problems.push(`/modules/${i}/inputs/${j}: module "${input}" does not exist (modules: ${names.join(', ')})`);
    });
    const a = m.arch;
    if (a.type === 'transformer') {
      if (a.hidden % a.heads !== 0) problems.push(`/modules/${i}/arch/heads: ${a.heads} heads do not divide hidden size ${a.hidden}`);
      if (a.sequencesPerSample !== undefined && a.tokensPerSample % a.sequencesPerSample !== 0) {
        problems.push(`/modules/${i}/arch/sequencesPerSample: ${a.sequencesPerSample} sequences do not divide ${a.tokensPerSample} tokens per sample`);
      }
      if (a.kvHeads !== undefined && a.heads % a.kvHeads !== 0) problems.push(`/modules/${i}/arch/kvHeads: ${a.kvHeads} key/value heads do not divide ${a.heads} heads`);
    }
  });
  problems.push(...checkBatch(model.batch.global, model.batch.micro));
  const cycle = findCycle(model);
  if (cycle) problems.push(`/modules: cycle in the module DAG: ${cycle.join(' -> ')}`);
  return problems;
}

/** Depth-first search for a cycle through `inputs`; returns it as a closed path of names. */
function findCycle(model: ModelSpec): string[] | undefined {
  const byName = new Map(model.modules.map((m) => [m.name, m]));
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (name: string): string[] | undefined => {
    if (state.get(name) === 'done') return undefined;
    if (state.get(name) === 'open') return [...stack.slice(stack.indexOf(name)), name];
    state.set(name, 'open');
    stack.push(name);
    for (const input of byName.get(name)?.inputs ?? []) {
      if (!byName.has(input)) continue;
      const found = visit(input);
      if (found) return found;
    }
    stack.pop();
    state.set(name, 'done');
    return undefined;
  };
  for (const m of model.modules) {
    const found = visit(m.name);
    if (found) return found.reverse();
  }
  return undefined;
}

/** Modules in an order where every module comes after its inputs. Assumes a checked (acyclic) model. */
export function topologicalOrder(model: ModelSpec): string[] {
  const byName = new Map(model.modules.map((m) => [m.name, m]));
  const done = new Set<string>();
  const order: string[] = [];
  const visit = (name: string): void => {
    if (done.has(name)) return;
    done.add(name);
    for (const input of byName.get(name)!.inputs) visit(input);
    order.push(name);
  };
  model.modules.forEach((m) => visit(m.name));
  return order;
}
