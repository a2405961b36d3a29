import { curveTime, type CurveParams } from './timing';

export type TimedPoint = { readonly quotaFraction: number; readonly ms: number };

export type CurveFit = {
  readonly params: CurveParams;
  /** Mean absolute percentage error of the fitted curve over the points it was fitted to. */
  readonly mapePercent: number;
  readonly points: number;
};

/**
 * Least-squares fit of t(q) = overhead + work / min(q, qSat) in relative error.
 * For a fixed qSat the model is linear in (overhead, work), solved in closed form; qSat is searched on
 * the sample quotas (where the best value lies between two of them) and refined by golden section.
 */
export function fitCurve(points: readonly TimedPoint[]): CurveFit {
  if (points.length === 0) throw new Error('fitCurve needs at least one point');
  const qs = [...new Set(points.map((p) => p.quotaFraction))].sort((a, b) => a - b);
  if (qs.length === 1) {
    // One quota tells nothing of the shape: all time is work, saturating no earlier than that quota.
    const mean = points.reduce((s, p) => s + p.ms, 0) / points.length;
    const params = { overheadMs: 0, workMs: mean * qs[0], saturationFraction: 1 };
    return { params, mapePercent: mape(points, params), points: points.length };
  }
  const candidates = [...qs, 1].filter((q, i, all) => all.indexOf(q) === i);
  let best = solveAt(points, candidates[0]);
  let bestIndex = 0;
  candidates.forEach((q, i) => {
    const fit = solveAt(points, q);
    if (fit.loss < best.loss) {
      best = fit;
      bestIndex = i;
    }
  });
  // The loss is smooth between sample quotas; refine in the brackets on either side of the best one.
  const lo = candidates[Math.max(0, bestIndex - 1)];
  const hi = candidates[Math.min(candidates.length - 1, bestIndex + 1)];
  for (const [a, b] of [[lo, candidates[bestIndex]], [candidates[bestIndex], hi]] as const) {
    if (b <= a) continue;
    const refined = goldenSection((q) => solveAt(points, q).loss, a, b);
    const fit = solveAt(points, refined);
    if (fit.loss < best.loss) best = fit;
  }
  return { params: best.params, mapePercent: mape(points, best.params), points: points.length };
}

function solveAt(points: readonly TimedPoint[], qSat: number): { params: CurveParams; loss: number } {
  // Weighted least squares with weights 1/t², i.e. relative error; normal equations for (c0, c1).
  let s00 = 0, s01 = 0, s11 = 0, r0 = 0, r1 = 0;
  for (const p of points) {
    const w = 1 / (p.ms * p.ms);
    const x = 1 / Math.min(p.quotaFraction, qSat);
    s00 += w; s01 += w * x; s11 += w * x * x; r0 += w * p.ms; r1 += w * p.ms * x;
  }
  const det = s00 * s11 - s01 * s01;
  let c0 = det !== 0 ? (r0 * s11 - r1 * s01) / det : 0;
  let c1 = det !== 0 ? (s00 * r1 - s01 * r0) / det : r1 / s11;
  if (c0 < 0 || det === 0) {
    c0 = 0;
    c1 = r1 / s11;
  }
  if (c1 < 0) {
    c1 = 0;
    c0 = r0 / s00;
  }
  const params = { overheadMs: c0, workMs: c1 * 1, saturationFraction: qSat };
  let loss = 0;
  for (const p of points) loss += ((curveTime(params, p.quotaFraction) - p.ms) / p.ms) ** 2;
  return { params, loss };
}

function goldenSection(f: (x: number) => number, a: number, b: number): number {
  const r = (Math.sqrt(5) - 1) / 2;
  let c = b - r * (b - a);
  let d = a + r * (b - a);
  for (let i = 0; i < 60; i++) {
    if (f(c) < f(d)) b = d;
    else a = c;
    c = b - r * (b - a);
    d = a + r * (b - a);
  }
  return (a + b) / 2;
}

function mape(points: readonly TimedPoint[], params: CurveParams): number {
  const sum = points.reduce((s, p) => s + Math.abs(curveTime(params, p.quotaFraction) - p.ms) / p.ms, 0);
  return (100 * sum) / points.length;
}

/**
 * Interference coefficient α in  t_colocated = t_alone · (1 + α · Σ neighbours' bandwidth share),
 * by least squares through the origin over co-running samples.
 */
export function fitInterference(samples: readonly { readonly slowdown: number; readonly neighbourBandwidth: number }[]): number | undefined {
  let num = 0, den = 0;
  for (const s of samples) {
    num += (s.slowdown - 1) * s.neighbourBandwidth;
    den += s.neighbourBandwidth * s.neighbourBandwidth;
  }
  return den > 0 ? Math.max(0, num / den) : undefined;
}
