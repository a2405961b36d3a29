import type { Simulation } from '../perf/simulate';
import type { Plan } from '../spec/plan';

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * The simulated iteration as an SVG timeline: one lane per GPU slot, one bar per task, coloured by
 * module; forward bars light, backward dark, optimizer steps hatched. Self-contained, no scripts.
 */
export function timelineSvg(plan: Plan, sim: Simulation): string {
  const lanes = plan.gpus.flatMap((g) => g.slots.map((s) => ({ id: s.id, label: `GPU ${g.id} · ${s.smCount} SM · ${s.modules.join('+')}` })));
  const color = new Map(plan.model.modules.map((m, i) => [m.name, PALETTE[i % PALETTE.length]]));
  const laneH = 16, gap = 4, left = 260, width = 1000, top = 40;
  const height = top + lanes.length * (laneH + gap) + 60;
  const x = (ms: number) => left + (ms / sim.iterationMs) * width;
  const row = new Map(lanes.map((l, i) => [l.id, top + i * (laneH + gap)]));
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${left + width + 20}" height="${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<defs><pattern id="hatch" width="4" height="4" patternUnits="userSpaceOnUse"><path d="M0,4 l4,-4" stroke="#000" stroke-width="1"/></pattern></defs>`);
  out.push(`<text x="10" y="20" font-size="14">${esc(`${plan.model.name} on ${plan.cluster.name} — ${plan.provenance} — iteration ${sim.iterationMs.toFixed(1)} ms (simulated)`)}</text>`);
  lanes.forEach((l) => out.push(`<text x="10" y="${row.get(l.id)! + 12}">${esc(l.label)}</text>`));
  for (const ev of sim.timeline) {
    const y = row.get(ev.slot);
    if (y === undefined) continue;
    const w = Math.max(0.5, x(ev.endMs) - x(ev.startMs));
    const fill = color.get(ev.module) ?? '#888';
    const opacity = ev.kind === 'forward' ? 0.55 : 1;
    out.push(`<rect x="${x(ev.startMs).toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${laneH}" fill="${fill}" fill-opacity="${opacity}"><title>${esc(`${ev.module} ${ev.kind}${ev.microbatch >= 0 ? ` mb ${ev.microbatch}` : ''}: ${ev.startMs.toFixed(2)}–${ev.endMs.toFixed(2)} ms`)}</title></rect>`);
    if (ev.kind === 'optimizer') out.push(`<rect x="${x(ev.startMs).toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${laneH}" fill="url(#hatch)"/>`);
  }
  const axisY = top + lanes.length * (laneH + gap) + 10;
  out.push(`<line x1="${left}" y1="${axisY}" x2="${left + width}" y2="${axisY}" stroke="#000"/>`);
  for (let i = 0; i <= 10; i++) {
    const ms = (sim.iterationMs * i) / 10;
    out.push(`<text x="${x(ms)}" y="${axisY + 14}" text-anchor="middle">${ms.toFixed(0)} ms</text>`);
  }
  let lx = left;
  for (const [name, fill] of color) {
    out.push(`<rect x="${lx}" y="${axisY + 24}" width="10" height="10" fill="${fill}"/><text x="${lx + 14}" y="${axisY + 33}">${esc(name)}</text>`);
    lx += 20 + name.length * 7;
  }
  out.push(`<text x="${lx + 10}" y="${axisY + 33}">light: forward · dark: backward · hatched: optimizer</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
