import { fmtBytes, linkName, moduleBreakdown } from '../perf/breakdown';
import type { Simulation } from '../perf/simulate';
import type { Plan } from '../spec/plan';
import { esc, fitLabel, niceTicks, textWidth, tickLabel } from '../util/chart';
import { fmtMs } from './plan-text';

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
const FONT = 11;

/** Black or white, whichever reads better on a solid `#rrggbb` fill (relative luminance, WCAG). */
function textOn(fill: string): string {
  const c = [1, 3, 5].map((i) => parseInt(fill.slice(i, i + 2), 16) / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
  const l = 0.2126 * c[0]! + 0.7152 * c[1]! + 0.0722 * c[2]!;
  return l > 0.179 ? '#000' : '#fff';
}

/**
 * The simulated iteration as an SVG timeline: one lane per GPU slot, one bar per task, coloured by
 * module; forward bars light, backward dark, optimizer steps hatched; under each lane a thin strip of
 * the communication its slot takes part in (gradient all-reduce, activations sent to another GPU).
 * Axis ticks at round values; labels cut with an ellipsis (or hidden) where their box is too narrow.
 * Self-contained, no scripts.
 */
export function timelineSvg(plan: Plan, sim: Simulation): string {
  const device = plan.cluster.device;
  const lanes = plan.gpus.flatMap((g) => g.slots.map((s) => ({ id: s.id, label: `GPU ${g.id} · ${s.smCount} SM · ${s.modules.join('+')}` })));
  const color = new Map(plan.model.modules.map((m, i) => [m.name, PALETTE[i % PALETTE.length]]));
  const stages = moduleBreakdown(plan.model.modules.map((m) => m.name), sim, plan.replicas);
  const barH = 14, commH = 5, gap = 5, laneH = barH + 1 + commH + gap;
  const left = 260, width = 1000, right = 20, total = left + width + right;
  const comm = stages.filter((s) => (s.communication?.allReduce.ms ?? 0) > 0).sort((a, b) => b.communication!.allReduce.ms - a.communication!.allReduce.ms);
  const summary = comm.slice(0, 3).map((s) => `${s.module} all-reduce ${fmtMs(s.communication!.allReduce.ms)} ms (${fmtBytes(s.communication!.allReduce.bytes)}, ${linkName(s.communication!.allReduce.link, device)})`);
  const top = 58;
  const x = (ms: number) => left + (ms / sim.iterationMs) * width;
  const row = new Map(lanes.map((l, i) => [l.id, top + i * laneH]));
  const axisY = top + lanes.length * laneH + 4;
  const out: string[] = [];
  const body: string[] = [];

  body.push(`<defs><pattern id="hatch" width="4" height="4" patternUnits="userSpaceOnUse"><path d="M0,4 l4,-4" stroke="#000" stroke-width="1"/></pattern></defs>`);
  body.push(`<text x="10" y="20" font-size="14">${esc(fitLabel(`${plan.model.name} on ${plan.cluster.name} — ${plan.provenance} plan — iteration ${fmtMs(sim.iterationMs)} ms (simulated)`, total - 20, 14))}</text>`);
  body.push(`<text x="10" y="40">${esc(fitLabel(summary.length > 0 ? `communication: ${summary.join('; ')}` : 'communication: no gradient all-reduce (every trainable module has one replica)', total - 20, FONT))}</text>`);
  // Grid and axis at round values.
  const { step, ticks } = niceTicks(0, sim.iterationMs, 10);
  for (const t of ticks) {
    body.push(`<line x1="${x(t).toFixed(2)}" y1="${top - 4}" x2="${x(t).toFixed(2)}" y2="${axisY}" stroke="#eee"/>`);
    body.push(`<text x="${x(t).toFixed(2)}" y="${axisY + 14}" text-anchor="middle">${tickLabel(t, step)}</text>`);
  }
  body.push(`<line x1="${left}" y1="${axisY}" x2="${left + width}" y2="${axisY}" stroke="#000"/>`);
  body.push(`<text x="${left + width}" y="${axisY + 28}" text-anchor="end">time in the iteration (ms)</text>`);
  // GPUs with no slot have no lane: say which, so that a plan using part of the cluster reads as such.
  const idle = plan.gpus.filter((g) => g.slots.length === 0).map((g) => g.id);
  if (idle.length > 0) {
    const ranges: string[] = [];
    for (let i = 0; i < idle.length; i++) {
      let j = i;
      while (j + 1 < idle.length && idle[j + 1] === idle[j]! + 1) j++;
      ranges.push(i === j ? `${idle[i]}` : `${idle[i]}-${idle[j]}`);
      i = j;
    }
    body.push(`<text x="10" y="${axisY + 14}">${esc(fitLabel(`idle GPUs (no lane): ${ranges.join(', ')}`, left - 20, FONT))}</text>`);
  }
  lanes.forEach((l) => body.push(`<text x="10" y="${row.get(l.id)! + 11}">${esc(fitLabel(l.label, left - 20, FONT))}<title>${esc(l.label)}</title></text>`));

  for (const ev of sim.timeline) {
    const y = row.get(ev.slot);
    if (y === undefined) continue;
    const x0 = x(ev.startMs);
    const w = Math.max(0.5, x(ev.endMs) - x0);
    const fill = color.get(ev.module) ?? '#888';
    const opacity = ev.kind === 'forward' ? 0.55 : 1;
    const what = `${ev.module} ${ev.kind}${ev.microbatch >= 0 ? ` microbatch ${ev.microbatch}` : ''}: ${fmtMs(ev.startMs)}–${fmtMs(ev.endMs)} ms`;
    body.push(`<rect x="${x0.toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${barH}" fill="${fill}" fill-opacity="${opacity}"><title>${esc(what)}</title></rect>`);
    if (ev.kind === 'optimizer') body.push(`<rect x="${x0.toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${barH}" fill="url(#hatch)"/>`);
    const label = fitLabel(ev.kind === 'optimizer' ? `${ev.module} step` : `${ev.module} ${ev.kind === 'forward' ? 'F' : 'B'}${ev.microbatch}`, w - 4, 9);
    if (label) body.push(`<text x="${(x0 + 2).toFixed(2)}" y="${y + 10}" font-size="9" fill="${ev.kind === 'backward' ? textOn(fill) : '#000'}">${esc(label)}</text>`);
  }
  for (const c of sim.communication) {
    const x0 = x(c.startMs);
    const w = Math.max(0.5, x(c.endMs) - x0);
    const what = `${c.module} ${c.kind}${c.microbatch >= 0 ? ` microbatch ${c.microbatch}` : ''}: ${fmtBytes(c.bytes)} over ${linkName(c.link, device)}, ${fmtMs(c.startMs)}–${fmtMs(c.endMs)} ms`;
    // An all-reduce shows on every replica's lane; a transfer on its sender's.
    for (const slot of c.kind === 'all-reduce' ? c.slots : c.slots.slice(0, 1)) {
      const y = row.get(slot);
      if (y === undefined) continue;
      body.push(`<rect x="${x0.toFixed(2)}" y="${y + barH + 1}" width="${w.toFixed(2)}" height="${commH}" fill="${color.get(c.module) ?? '#888'}"${c.link === 'inter-node' ? ' stroke="#000" stroke-width="0.6"' : ''}><title>${esc(what)}</title></rect>`);
    }
  }

  // Legend, wrapped to the width.
  let lx = left, ly = axisY + 46;
  const legendItem = (swatch: (x: number, y: number) => string, text: string) => {
    const w = 16 + textWidth(text, FONT) + 16;
    if (lx + w > total - right && lx > left) {
      lx = left;
      ly += 18;
    }
    body.push(swatch(lx, ly - 9) + `<text x="${lx + 14}" y="${ly}">${esc(text)}</text>`);
    lx += w;
  };
  for (const [name, fill] of color) legendItem((x0, y0) => `<rect x="${x0}" y="${y0}" width="10" height="10" fill="${fill}"/>`, name);
  lx = left;
  ly += 18;
  legendItem(() => '', 'bars: light forward (F<microbatch>), dark backward (B<microbatch>), hatched optimizer step');
  lx = left;
  ly += 18;
  legendItem(() => '', `thin strip under a lane: communication (gradient all-reduce on every replica's lane, activations on the sender's); outlined: between nodes`);
  const height = ly + 14;
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${total}" height="${height}" font-family="sans-serif" font-size="${FONT}">`);
  out.push(`<rect width="${total}" height="${height}" fill="#fff"/>`);
  out.push(...body, '</svg>');
  return out.join('\n') + '\n';
}
