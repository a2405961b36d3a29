import { DEFAULT_OPTIONS } from '../plan/options';
import * as path from 'path';
import { writeFileAtomic } from '../io/atomic-write';
import { esc, fitLabel, niceTicks, textWidth, tickLabel } from '../util/chart';
import { meaningOf } from '../spec/words';
import { describeCase, type BatchCase } from './manifest';
import type { BatchState, CaseResult } from './store';

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
const batchText = (c: BatchCase): string => (c.batch ? `${c.batch.global}/${c.batch.micro}` : 'model default');

/** Results in the manifest's order (batch.json), whatever order the workers finished them in. */
export function orderResults(state: BatchState, results: readonly CaseResult[]): CaseResult[] {
  const byId = new Map(results.map((r) => [r.id, r]));
  return state.cases.flatMap((c) => (byId.has(c.id) ? [byId.get(c.id)!] : []));
}

const CSV_COLUMNS = [
  'id', 'model', 'cluster', 'gpus', 'globalBatch', 'microBatch', 'method', 'solver', 'timeLimitSeconds', 'status', 'errorCode', 'error',
  'bestProvenance', 'iterationMs', 'samplesPerSecond', 'lowerBoundRatio', 'bestBaseline', 'bestBaselineMs', 'speedupOverBestBaseline',
  'heuristicMs', 'ilpMs', 'heuristicGap', 'ilpStatus', 'ilpProvenOptimal', 'ilpGap', 'ilpSolveMs', 'planningMs',
] as const;

function csvCell(v: unknown): string {
  if (v === undefined || v === null) return '';
  const s = typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(8)) : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function summaryCsv(results: readonly CaseResult[]): string {
  const rows = results.map((r) => {
    const s = r.summary;
    const c = r.case;
    const row: Record<(typeof CSV_COLUMNS)[number], unknown> = {
      id: r.id,
      model: s?.model ?? c.model,
      cluster: s?.cluster ?? c.cluster,
      gpus: s?.gpus,
      globalBatch: s?.globalBatch ?? c.batch?.global,
      microBatch: s?.microBatch ?? c.batch?.micro,
      method: c.method,
      solver: c.solver,
      timeLimitSeconds: c.timeLimitSeconds,
      status: r.status,
      errorCode: r.error?.code,
      error: r.error?.message,
      bestProvenance: s?.best.provenance,
      iterationMs: s?.best.iterationMs,
      samplesPerSecond: s?.best.samplesPerSecond,
      lowerBoundRatio: s?.best.lowerBoundRatio,
      bestBaseline: s?.bestBaseline?.name,
      bestBaselineMs: s?.bestBaseline?.iterationMs,
      speedupOverBestBaseline: s?.speedupOverBestBaseline,
      heuristicMs: s?.heuristic?.iterationMs,
      ilpMs: s?.ilp?.iterationMs,
      heuristicGap: s?.heuristicGap,
      ilpStatus: s?.ilp?.status,
      ilpProvenOptimal: s?.ilp?.provenOptimal,
      ilpGap: s?.ilp?.gap,
      ilpSolveMs: s?.ilp ? (s.ilp.totalSolveMs ?? s.ilp.solveMs) : undefined,
      planningMs: r.planningMs,
    };
    return CSV_COLUMNS.map((k) => csvCell(row[k])).join(',');
  });
  return [CSV_COLUMNS.join(','), ...rows].join('\n') + '\n';
}

type Bar = { label: string; value: number; color: string; title: string };

/**
 * Vertical grouped bars: groups along x, one bar per series in each group. Bars grow from `base` (up
 * above it, down below it: 1 for speedups, 0 for gaps), the axis spans the data and the base with
 * round ticks, and the base is drawn as a dashed line. Labels are cut with an ellipsis to their room.
 */
function groupedBarsSvg(groups: readonly { name: string; bars: readonly Bar[] }[], yLabel: string, base: number, minSpan: number, legend: readonly { label: string; color: string }[] = []): string {
  const barW = 14, groupGap = 24, left = 70, top = 20, h = 220, labelRoom = 95;
  const width = left + groups.reduce((a, g) => a + Math.max(1, g.bars.length) * barW + groupGap, 0) + 20;
  const values = groups.flatMap((g) => g.bars.map((b) => b.value));
  // The axis spans the data and the base, and at least `minSpan` (so that equal values do not blow up the scale).
  let dataLo = Math.min(base, ...values), dataHi = Math.max(base, ...values);
  if (dataHi - dataLo < minSpan) {
    const grow = minSpan - (dataHi - dataLo);
    const below = dataLo < base ? grow / 2 : 0;
    dataLo -= below;
    dataHi += grow - below;
  }
  const pad = (dataHi - dataLo) * 0.08;
  const { step, ticks } = niceTicks(dataLo - (dataLo < base ? pad : 0), dataHi + pad, 5);
  const lo = Math.min(ticks[0]!, dataLo), hi = Math.max(ticks[ticks.length - 1]!, dataHi + pad);
  const y = (v: number) => top + h - ((v - lo) / (hi - lo)) * h;
  const legendW = legend.reduce((a, l) => a + 24 + textWidth(l.label, 11), 0);
  const svgW = Math.max(width, 320, left + legendW + 20);
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${svgW}" height="${top + h + labelRoom + 40}" font-family="sans-serif" font-size="11">`];
  for (const v of ticks) out.push(`<line x1="${left}" x2="${width - 10}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#eee"/><text x="${left - 4}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${tickLabel(v, step)}</text>`);
  out.push(`<text x="12" y="${top + h / 2}" transform="rotate(-90 12 ${top + h / 2})" text-anchor="middle">${esc(yLabel)}</text>`);
  let x = left + 8;
  for (const g of groups) {
    const gx = x;
    for (const b of g.bars) {
      const y0 = y(Math.max(b.value, base)), y1 = y(Math.min(b.value, base));
      out.push(`<rect x="${x}" y="${y0.toFixed(1)}" width="${barW - 2}" height="${Math.max(1, y1 - y0).toFixed(1)}" fill="${b.color}"><title>${esc(b.title)}</title></rect>`);
      x += barW;
    }
    const cx = (gx + x) / 2;
    // Rotated 35°: a label of width w drops w·sin 35° below the axis, within labelRoom.
    out.push(`<text x="${cx}" y="${top + h + 12}" text-anchor="end" transform="rotate(-35 ${cx} ${top + h + 12})">${esc(fitLabel(g.name, (labelRoom - 12) / Math.sin((35 * Math.PI) / 180), 11))}<title>${esc(g.name)}</title></text>`);
    x += groupGap;
  }
  out.push(`<line x1="${left}" x2="${width - 10}" y1="${y(base).toFixed(1)}" y2="${y(base).toFixed(1)}" stroke="#000" stroke-dasharray="4 3"/>`);
  out.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + h}" stroke="#000"/>`);
  let lx = left;
  for (const l of legend) {
    out.push(`<rect x="${lx}" y="${top + h + labelRoom + 10}" width="10" height="10" fill="${l.color}"/><text x="${lx + 14}" y="${top + h + labelRoom + 19}">${esc(l.label)}</text>`);
    lx += 24 + textWidth(l.label, 11);
  }
  out.push('</svg>');
  return out.join('');
}

/** Scatter with log-scale axes (GPU counts are mostly powers of two; solve times span decades). */
function scatterSvg(points: readonly { x: number; y: number; color: string; title: string }[], xLabel: string, yLabel: string, legend: readonly { label: string; color: string }[]): string {
  const left = 70, top = 20, w = 520, h = 260;
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => Math.max(p.y, 1e-3));
  const lx = xs.map((x) => Math.log2(Math.max(x, 1)));
  const xLo = Math.min(...lx) - 0.5, xHi = Math.max(...lx) + 0.5;
  const lo = Math.floor(Math.log10(Math.min(...ys))), hi = Math.ceil(Math.log10(Math.max(...ys)) + 1e-9);
  const span = Math.max(1, hi - lo);
  const px = (v: number) => left + ((Math.log2(Math.max(v, 1)) - xLo) / (xHi - xLo)) * w;
  const py = (v: number) => top + h - ((Math.log10(Math.max(v, 1e-3)) - lo) / span) * h;
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${left + w + 30}" height="${top + h + 70}" font-family="sans-serif" font-size="11">`];
  for (let e = lo; e <= lo + span; e++) out.push(`<line x1="${left}" x2="${left + w}" y1="${py(10 ** e)}" y2="${py(10 ** e)}" stroke="#eee"/><text x="${left - 4}" y="${py(10 ** e) + 4}" text-anchor="end">${10 ** e >= 1 ? (10 ** e).toFixed(0) : (10 ** e).toPrecision(1)}</text>`);
  const ticks = [...new Set(xs)].sort((a, b) => a - b);
  for (const t of ticks) out.push(`<text x="${px(t)}" y="${top + h + 14}" text-anchor="middle">${t}</text>`);
  out.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + h}" stroke="#000"/><line x1="${left}" x2="${left + w}" y1="${top + h}" y2="${top + h}" stroke="#000"/>`);
  out.push(`<text x="${left + w / 2}" y="${top + h + 32}" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push(`<text x="14" y="${top + h / 2}" transform="rotate(-90 14 ${top + h / 2})" text-anchor="middle">${esc(yLabel)}</text>`);
  for (const p of points) out.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="4" fill="${p.color}" fill-opacity="0.75"><title>${esc(p.title)}</title></circle>`);
  legend.forEach((l, i) => out.push(`<circle cx="${left + 5 + i * 110}" cy="${top + h + 52}" r="5" fill="${l.color}"/><text x="${left + 14 + i * 110}" y="${top + h + 56}">${esc(l.label)}</text>`));
  out.push('</svg>');
  return out.join('');
}

const fmt = (x: number | undefined, digits = 3): string => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits));
const pct = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '–' : `${(100 * x).toFixed(2)}%`);

export function reportHtml(state: BatchState, results: readonly CaseResult[]): string {
  const ok = results.filter((r) => r.status === 'ok' && r.summary);
  const failed = results.filter((r) => r.status === 'failed');
  const models = [...new Set(ok.map((r) => r.summary!.model))];
  const clusters = [...new Set(ok.map((r) => r.summary!.cluster))];
  const clusterColor = new Map(clusters.map((c, i) => [c, PALETTE[i % PALETTE.length]!]));
  const parts: string[] = [];
  const title = `Mosaic batch report${state.name ? ` — ${state.name}` : ''}`;
  parts.push(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>
body{font-family:sans-serif;margin:24px;max-width:1200px;color:#222}table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:3px 8px;font-size:12px;text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}h2{margin-top:32px}.muted{color:#777;font-size:12px}
</style></head><body>`);
  parts.push(`<h1>${esc(title)}</h1>`);
  const missing = state.cases.length - results.length;
  parts.push(`<p class="muted">manifest ${esc(state.manifest)} (hash ${esc(state.manifestHash)})${state.shard ? `, shard ${state.shard.index}/${state.shard.count}` : ''}${state.mergedFrom ? `, merged from ${state.mergedFrom.map(esc).join(', ')}` : ''}</p>`);
  parts.push(`<p>${results.length} case(s) with results: <b>${ok.length} ok</b>, <b>${failed.length} failed</b>${missing > 0 ? `; ${missing} of the manifest's ${state.cases.length} cases have no result here${state.shard ? ' (other shards, or not run yet)' : ' (not run yet)'}` : ''}.</p>`);

  // 1. Speedup over the best baseline, per model and cluster.
  parts.push('<h2>Speedup over the best baseline</h2><p class="muted">Best plan of each case (iteration time of the best temporal-multiplexing baseline ÷ the best plan’s). Cells list each batch setting (global/micro) and method; the chart shows the highest per model and cluster. Bars start at the dashed line, 1× (no gain): up is faster than the baseline, down slower; the axis spans the data, so small gains are visible.</p>');
  const speedCases = ok.filter((r) => r.summary!.speedupOverBestBaseline !== undefined);
  if (speedCases.length === 0) parts.push('<p>No case with a fitting baseline.</p>');
  else {
    const groups = models.map((m) => ({
      name: m,
      bars: clusters.flatMap((c) => {
        const cs = speedCases.filter((r) => r.summary!.model === m && r.summary!.cluster === c);
        if (cs.length === 0) return [];
        const best = cs.reduce((a, b) => (b.summary!.speedupOverBestBaseline! > a.summary!.speedupOverBestBaseline! ? b : a));
        return [{ label: c, value: best.summary!.speedupOverBestBaseline!, color: clusterColor.get(c)!, title: `${m} on ${c}: ${best.summary!.speedupOverBestBaseline!.toFixed(3)}× over ${best.summary!.bestBaseline?.name} (${describeCase(best.case)})` }];
      }),
    }));
    const even = speedCases.filter((r) => Math.abs(r.summary!.speedupOverBestBaseline! - 1) < 5e-4).length;
    if (even > 0) parts.push(`<p>${even} of ${speedCases.length} case(s) gain nothing over the best baseline (1.000×): there the best plan is the baseline’s layout, or no faster than it. Their bars are flat on the dashed line.</p>`);
    parts.push(groupedBarsSvg(groups, 'speedup over best baseline (×)', 1, 0.1, clusters.map((c) => ({ label: c, color: clusterColor.get(c)! }))));
    parts.push('<table><tr><th class="l">model</th>' + clusters.map((c) => `<th>${esc(c)}</th>`).join('') + '</tr>');
    for (const m of models) {
      parts.push(`<tr><td class="l">${esc(m)}</td>` + clusters.map((c) => {
        const cs = speedCases.filter((r) => r.summary!.model === m && r.summary!.cluster === c);
        return `<td>${cs.map((r) => `${fmt(r.summary!.speedupOverBestBaseline)}× <span class="muted">${esc(batchText(r.case))} ${esc(r.case.method)}</span>`).join('<br>') || '–'}</td>`;
      }).join('') + '</tr>');
    }
    parts.push('</table>');
  }

  // 2. Heuristic gap to the final plan.
  parts.push('<h2>Heuristic gap to the final plan</h2><p class="muted">Cases that ran the heuristic beside the exact search (methods compare and all). The chart shows the <b>simulated gap</b>; 0 means the heuristic’s plan was the final plan (or as fast).</p>');
  parts.push(`<p><b>Simulated gap</b>: the heuristic plan’s iteration time ÷ the final plan’s − 1, both from the simulator (pipeline fill and drain, waits between modules, transfers, gradient all-reduce, optimizer step): what you would see when training. The final plan is the fastest of every origin and is within its proven gap of the best plan of the space (the “bound” column of the first table), so the heuristic is at least this far from optimal. <b>Linear gap</b>: the heuristic against the throughput ILP’s plan on that ILP’s own linear model, which counts only each module’s steady compute rate on its quotas and leaves out fill, waits and communication; when the iteration is dominated by what it leaves out, a heuristic plan 10% slower on the linear model can simulate exactly as fast, and the reverse. Trust the simulated gap. “proven” in the ILP status column: ${esc(meaningOf('proven')!)}.</p>`);
  const gapCases = ok.filter((r) => r.summary!.heuristicGap !== undefined);
  if (gapCases.length === 0) parts.push('<p>No case ran both the heuristic and the exact search.</p>');
  else {
    const byModel = models.map((m) => ({
      name: m,
      bars: gapCases.filter((r) => r.summary!.model === m).map((r) => ({ label: r.summary!.cluster, value: 100 * r.summary!.heuristicGap!, color: clusterColor.get(r.summary!.cluster)!, title: `${describeCase(r.case)}: gap ${pct(r.summary!.heuristicGap)}` })),
    })).filter((g) => g.bars.length > 0);
    parts.push(groupedBarsSvg(byModel, 'heuristic gap to the final plan (%)', 0, 1, clusters.map((c) => ({ label: c, color: clusterColor.get(c)! }))));
    parts.push('<table><tr><th class="l">case</th><th>heuristic ms</th><th>final plan ms</th><th>gap</th><th>linear gap</th><th>ILP ms</th><th class="l">ILP status</th><th title="the throughput ILP’s answer against its own LP bound, on its linear model (0 when proven)">ILP gap to its LP bound</th></tr>');
    for (const r of gapCases) {
      const s = r.summary!;
      parts.push(`<tr><td class="l">${esc(describeCase(r.case))}</td><td>${fmt(s.heuristic?.iterationMs, 1)}</td><td>${fmt(s.best.iterationMs, 1)}</td><td>${pct(s.heuristicGap)}</td><td>${pct(s.heuristicGapLinear)}</td><td>${fmt(s.ilp?.iterationMs, 1)}</td><td class="l" title="${esc(s.ilp ? (meaningOf(s.ilp.status) ?? '') : 'no throughput ILP plan in its share of the time limit')}">${s.ilp ? `${esc(s.ilp.status)}${s.ilp.provenOptimal ? ' (proven)' : ''}` : '–'}</td><td>${pct(s.ilp?.gap)}</td></tr>`);
    }
    parts.push('</table>');
  }

  // 3. Solve time vs GPU count.
  parts.push('<h2>ILP solve time vs GPU count</h2><p class="muted">All solves of a case together (LP bound, optimum, re-solves, next-best), log scale; colour: solver.</p>');
  const solveCases = ok.filter((r) => r.summary!.ilp && (r.summary!.ilp.totalSolveMs ?? r.summary!.ilp.solveMs) !== undefined);
  if (solveCases.length === 0) parts.push('<p>No ILP case finished.</p>');
  else {
    const solvers = [...new Set(solveCases.map((r) => r.case.solver ?? DEFAULT_OPTIONS.solver))];
    const solverColor = new Map(solvers.map((s, i) => [s, PALETTE[(i + 3) % PALETTE.length]!]));
    parts.push(scatterSvg(
      solveCases.map((r) => ({ x: r.summary!.gpus, y: (r.summary!.ilp!.totalSolveMs ?? r.summary!.ilp!.solveMs)!, color: solverColor.get(r.case.solver ?? DEFAULT_OPTIONS.solver)!, title: `${describeCase(r.case)}: ${(r.summary!.ilp!.totalSolveMs ?? r.summary!.ilp!.solveMs)!.toFixed(0)} ms, ${r.summary!.ilp!.status}` })),
      'GPUs (log scale)',
      'solve time (ms, log scale)',
      solvers.map((s) => ({ label: s, color: solverColor.get(s)! })),
    ));
  }

  // 4. Failures.
  parts.push(`<h2>Failures (${failed.length})</h2>`);
  if (failed.length === 0) parts.push('<p>None.</p>');
  else {
    parts.push('<table><tr><th class="l">id</th><th class="l">case</th><th class="l">code</th><th class="l">reason</th></tr>');
    for (const r of failed) parts.push(`<tr><td class="l">${esc(r.id)}</td><td class="l">${esc(describeCase(r.case))}</td><td class="l">${esc(r.error?.code ?? '')}</td><td class="l">${esc(r.error?.message ?? '')}</td></tr>`);
    parts.push('</table>');
  }

  // 5. Every case.
  parts.push(`<h2>All cases</h2><details><summary>${results.length} case(s)</summary><table><tr><th class="l">case</th><th class="l">status</th><th class="l">best plan</th><th>iteration ms</th><th>samples/s</th><th>× lower bound</th><th>× best baseline</th><th>planning ms</th></tr>`);
  for (const r of results) {
    const s = r.summary;
    parts.push(`<tr><td class="l">${esc(describeCase(r.case))}</td><td class="l">${r.status === 'ok' ? 'ok' : esc(r.error?.code ?? 'failed')}</td><td class="l">${esc(s?.best.provenance ?? '')}</td><td>${fmt(s?.best.iterationMs, 1)}</td><td>${fmt(s?.best.samplesPerSecond, 1)}</td><td>${fmt(s?.best.lowerBoundRatio)}</td><td>${fmt(s?.speedupOverBestBaseline)}</td><td>${fmt(r.planningMs, 0)}</td></tr>`);
  }
  parts.push('</table></details></body></html>\n');
  return parts.join('\n');
}

/** Writes DIR/summary.csv and DIR/report.html atomically; returns their paths. */
export function writeReport(dir: string, state: BatchState, results: readonly CaseResult[]): string[] {
  const ordered = orderResults(state, results);
  const csv = path.join(dir, 'summary.csv');
  const html = path.join(dir, 'report.html');
  writeFileAtomic(csv, summaryCsv(ordered));
  writeFileAtomic(html, reportHtml(state, ordered));
  return [csv, html];
}
