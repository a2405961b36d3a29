/**
 * Every status word Mosaic shows — in text, `--json`, plan files, the batch CSV and report — defined
 * once, with its one-line meaning. `mosaic plan --help` prints this table; the texts use `meaningOf`.
 * A word not in this table must not reach a user.
 */
export type StatusWordGroup = 'provenance' | 'solver status' | 'proof' | 'bound';

export type StatusWord = { readonly word: string; readonly group: StatusWordGroup; readonly meaning: string };

export const STATUS_WORDS: readonly StatusWord[] = [
  // Where a plan comes from (plan.provenance; bestProvenance in the batch CSV).
  { word: 'ilp', group: 'provenance', meaning: 'made by the exact planner (an ILP over GPU patterns and quota levels; the final choice among its solutions by simulation)' },
  { word: 'heuristic:<name>', group: 'provenance', meaning: 'made by a heuristic: waterfill (greedy colocation and quota water-filling), waterfill-<k>-copies (the same, with the slots repeated k times on each GPU: k replicas of each module per GPU), local-search-from-<start>, <module>-on-<n>-of-<N>-nodes or sequential-on-<n>-of-<N>-nodes (the largest module, or every module, kept on the first n nodes so that its gradient sync crosses fewer links between nodes), or polish-of-<origin> (a plan refined by the simulator: microbatches moved between replicas, SM steps between slots, a module moved to or shared with another slot of its GPUs, a slot split in two; the heuristic polishes its own plan, and the planner the fastest plan of any origin and the fastest proposal of the exact search)' },
  { word: 'baseline:<name>', group: 'provenance', meaning: 'a temporal-multiplexing layout: sequential (every GPU runs every module in turn) or exclusive (each module on its own GPUs); also what the heuristic returns when it finds nothing faster' },
  { word: 'hand', group: 'provenance', meaning: 'written or edited by a person outside Mosaic' },
  // The throughput ILP's solver outcome (solver.status in a plan, ilp.status in --json, ilpStatus in the CSV).
  { word: 'optimal', group: 'solver status', meaning: "the solver proved its answer optimal for the ILP's linear throughput model (within 0.01%); not a claim about the simulated time" },
  { word: 'feasible', group: 'solver status', meaning: 'the solver found an answer but did not prove it optimal' },
  { word: 'timeLimit', group: 'solver status', meaning: 'the time limit stopped the solver; its answer (if any) is the best it had found' },
  { word: 'infeasible', group: 'solver status', meaning: 'no layout of the ILP fits (memory or GPU count)' },
  { word: 'error', group: 'solver status', meaning: 'the solver failed; the reason is in the notes' },
  // ilp.provenOptimal in --json, ilpProvenOptimal in the CSV, "proven" in the batch report.
  { word: 'proven', group: 'proof', meaning: "the ILP's answer is optimal for its linear model: the solver said optimal, or the answer meets the LP bound within 0.01%" },
  // How the bound over the space was proven (bound.method), and the gap to it.
  { word: 'enumeration: every plan simulated or ruled out', group: 'bound', meaning: 'the space was small enough to enumerate: every plan in it was simulated or its own bound showed it cannot beat the best plan by more than the target gap' },
  { word: 'relaxation: gap target met', group: 'bound', meaning: 'the exact search proved a bound within the target gap of the best plan it simulated' },
  { word: 'relaxation: optimum bracketed', group: 'bound', meaning: 'the exact search proved that no plan beats the bound and found a plan within the gap' },
  { word: 'relaxation: trial budget spent', group: 'bound', meaning: 'the exact search stopped after its budget of trial times; the bound is what it had proven by then' },
  { word: 'relaxation: time limit', group: 'bound', meaning: 'the exact search stopped at the time limit; the bound is what it had proven by then' },
  { word: 'perfect scaling (no exact search run)', group: 'bound', meaning: 'the bound is the total work spread perfectly over every GPU: valid, but loose' },
  { word: 'gap', group: 'bound', meaning: 'simulated iteration time ÷ the bound over the space − 1: at most this much slower than the best plan of the space' },
];

const BY_WORD = new Map(STATUS_WORDS.map((w) => [w.word, w]));

/** The meaning of a status word (a provenance like `heuristic:waterfill` matches `heuristic:<name>`); undefined if it is not in the table. */
export function meaningOf(word: string): string | undefined {
  const exact = BY_WORD.get(word);
  if (exact) return exact.meaning;
  const colon = word.indexOf(':');
  return colon > 0 ? BY_WORD.get(`${word.slice(0, colon)}:<name>`)?.meaning : undefined;
}

/** The table as help text: one line per word, grouped. */
export function statusGlossary(): string[] {
  const width = Math.max(...STATUS_WORDS.map((w) => w.word.length));
  const lines: string[] = [];
  let group: string | undefined;
  for (const w of STATUS_WORDS) {
    if (w.group !== group) lines.push(`  ${(group = w.group)}:`);
    lines.push(`    ${w.word.padEnd(width)}  ${w.meaning}`);
  }
  return lines;
}
