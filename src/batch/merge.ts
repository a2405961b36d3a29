import * as path from 'path';
import { inputError } from '../errors';
import { writeFileAtomic } from '../io/atomic-write';
import { makeOutputDir } from '../io/output-path';
import { describeCase, shardOf } from './manifest';
import { orderResults, writeReport } from './report';
import { readResults, readState, RESULTS_FILE, shardText, writeState, type BatchState, type CaseResult } from './store';

export type MergeSummary = {
  readonly out: string;
  readonly manifestHash: string;
  readonly total: number;
  readonly ok: number;
  readonly failed: number;
  readonly files: readonly string[];
};

const MAX_LISTED = 10;

/**
 * Combines the outputs of `mosaic batch --shard i/n` runs (or any runs of one manifest): checks that
 * every directory ran the same manifest, that no case has results in two directories and that every
 * case has one; then writes OUT/results.jsonl (manifest order), batch.json, summary.csv and report.html.
 */
export function mergeDirs(dirs: readonly string[], out: string): MergeSummary {
  if (dirs.length === 0) throw inputError('merge: give at least one batch directory');
  const inputs = dirs.map((dir) => {
    const state = readState(dir);
    if (!state) throw inputError(`${dir}: no batch.json: not an output directory of mosaic batch`);
    const results = readResults(dir);
    return { dir, state, results: results.results, partial: results.partialBytes };
  });
  const first = inputs[0]!;
  const problems: string[] = [];
  for (const i of inputs.slice(1)) {
    if (i.state.manifestHash !== first.state.manifestHash) {
      problems.push(`${i.dir}: ran a different manifest (${i.state.manifest}, hash ${i.state.manifestHash}) than ${first.dir} (${first.state.manifest}, hash ${first.state.manifestHash})`);
    }
  }
  if (problems.length > 0) throw inputError(problems);

  const known = new Map(first.state.cases.map((c) => [c.id, c.case]));
  const owner = new Map<string, { dir: string; result: CaseResult }>();
  for (const i of inputs) {
    for (const r of i.results) {
      if (!known.has(r.id)) {
        problems.push(`${path.join(i.dir, RESULTS_FILE)}: case ${r.id} is not in the manifest`);
        continue;
      }
      const prev = owner.get(r.id);
      if (prev) problems.push(`case ${r.id} (${describeCase(r.case)}) has results in both ${prev.dir} and ${i.dir}: a shard was given twice or overlaps another`);
      else owner.set(r.id, { dir: i.dir, result: r });
    }
  }
  if (problems.length > 0) throw inputError(problems.length > MAX_LISTED ? [...problems.slice(0, MAX_LISTED), `… and ${problems.length - MAX_LISTED} more`] : problems);

  const missing = first.state.cases.filter((c) => !owner.has(c.id));
  if (missing.length > 0) {
    const counts = [...new Set(inputs.map((i) => i.state.shard?.count).filter((n): n is number => n !== undefined))];
    const given = inputs.map((i) => `${i.dir} (${shardText(i.state.shard)})`).join(', ');
    const where = (id: string) => (counts.length === 1 ? `, shard ${shardOf(id, counts[0]!)}/${counts[0]}` : '');
    throw inputError([
      `${missing.length} of the manifest's ${first.state.cases.length} cases have no result in ${given}:`,
      ...missing.slice(0, MAX_LISTED).map((c) => `  ${c.id} (${describeCase(c.case)}${where(c.id)})`),
      ...(missing.length > MAX_LISTED ? [`  … and ${missing.length - MAX_LISTED} more`] : []),
      'finish (rerun) the shards that lack them, or add their directories',
    ]);
  }

  makeOutputDir(out, '-o');
  const state: BatchState = { ...first.state, shard: null, mergedFrom: dirs.map((d) => path.resolve(d)) };
  const ordered = orderResults(state, [...owner.values()].map((o) => o.result));
  writeFileAtomic(path.join(out, RESULTS_FILE), ordered.map((r) => JSON.stringify(r) + '\n').join(''));
  writeState(out, state);
  const files = writeReport(out, state, ordered);
  return {
    out,
    manifestHash: state.manifestHash,
    total: ordered.length,
    ok: ordered.filter((r) => r.status === 'ok').length,
    failed: ordered.filter((r) => r.status === 'failed').length,
    files: [path.join(out, RESULTS_FILE), path.join(out, 'batch.json'), ...files],
  };
}
