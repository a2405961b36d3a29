/**
 * Fits the physics constants of one GPU to a sweep from scripts/gpu-sweep.py (`mosaic calibrate
 * --sweep`): each constant is fitted, by a grid search over its physical range, to the sweep rows it
 * decides (a grid over each group of constants that trade off, in shrinking windows), and the fit error per kind of row is reported before
 * (the table's row) and after. The result is a `gpu.physics` block for a cluster spec.
 */
import type { GpuPhysicsOverrides } from '../spec/types';
import { physicsFor, type GpuPhysics } from './physics';
import { compareSweep, mape, sweepCluster, type SweepRecord, type SweepRow } from './sweep';

type Fitted = Exclude<keyof GpuPhysicsOverrides, 'source'>;

/** Which rows decide each group of constants (fitted jointly: they trade off), and their physical ranges. */
const FITS: readonly { readonly keys: readonly { readonly key: Fitted; readonly lo: number; readonly hi: number }[]; readonly kinds: readonly string[] }[] = [
  { keys: [{ key: 'gemmEfficiencyAllSms', lo: 0.4, hi: 1 }, { key: 'gemmEfficiencyFewSms', lo: 0.4, hi: 1 }], kinds: ['gemm', 'gemm-waves'] },
  { keys: [{ key: 'kernelOverheadUs', lo: 0, hi: 20 }], kinds: ['gemm', 'gemm-waves', 'block-graph'] },
  { keys: [{ key: 'achievedBandwidthFraction', lo: 0.5, hi: 1 }, { key: 'bandwidthSaturationFraction', lo: 0.1, hi: 1 }], kinds: ['bandwidth'] },
  { keys: [{ key: 'attentionEfficiency', lo: 0.1, hi: 1 }], kinds: ['attention-fwd'] },
  { keys: [{ key: 'attentionBackwardRatio', lo: 0.3, hi: 1.5 }], kinds: ['attention-bwd'] },
  { keys: [{ key: 'hostGapUs', lo: 0, hi: 200 }], kinds: ['block-eager'] },
  { keys: [{ key: 'interferenceGamma', lo: 0, hi: 2 }], kinds: ['corun', 'block-corun'] },
];

/** The sweep sections whose rows are of each kind (to evaluate a group on its own records only). */
const SECTION_OF: Readonly<Record<string, string>> = {
  gemm: 'gemm-sms',
  'gemm-waves': 'gemm-waves',
  bandwidth: 'bandwidth',
  'attention-fwd': 'attention',
  'attention-bwd': 'attention',
  'block-graph': 'blocks',
  'block-eager': 'blocks',
  corun: 'corun',
  'block-corun': 'blocks-corun',
};

export type KindFit = { readonly kind: string; readonly points: number; readonly mapeBefore: number; readonly mapeAfter: number };

export type PhysicsFit = {
  readonly gpu: string;
  readonly architecture: string;
  readonly before: Partial<GpuPhysics>;
  /** The fitted constants, to put under `gpu.physics` in a cluster spec. */
  readonly physics: GpuPhysicsOverrides;
  readonly kinds: readonly KindFit[];
  readonly rows: readonly SweepRow[];
};

/** Grid points per constant and round: a group of two searches STEPS² points. */
const STEPS = 20;
/** Rounds; each searches a window a quarter of the last around the best point. */
const ROUNDS = 5;

export function fitPhysics(records: readonly SweepRecord[], source: string): PhysicsFit {
  const base = sweepCluster(records);
  const table = physicsFor(base);
  const before = compareSweep(records, base);
  const present = new Set(before.map((r) => r.kind));
  const current: Record<string, number> = {};
  for (const g of FITS) for (const k of g.keys) current[k.key] = table[k.key];
  for (const g of FITS) {
    if (!g.kinds.some((k) => present.has(k))) continue;
    const sections = new Set(g.kinds.map((k) => SECTION_OF[k]));
    const mine = records.filter((r) => r.section === 'env' || sections.has(r.section));
    const errorOf = (o: Record<string, number>) => mape(compareSweep(mine, sweepCluster(mine, o as GpuPhysicsOverrides)).filter((r) => g.kinds.includes(r.kind)));
    let best = { ...current };
    let bestE = errorOf(best);
    for (let round = 0; round < ROUNDS; round++) {
      const windows = g.keys.map((k) => {
        const span = (k.hi - k.lo) / Math.pow(4, round);
        return round === 0 ? { lo: k.lo, hi: k.hi } : { lo: Math.max(k.lo, best[k.key]! - span / 2), hi: Math.min(k.hi, best[k.key]! + span / 2) };
      });
      const centre = { ...best };
      const visit = (i: number, point: Record<string, number>) => {
        if (i === g.keys.length) {
          const e = errorOf(point);
          if (e < bestE - 1e-12) {
            bestE = e;
            best = { ...point };
          }
          return;
        }
        for (let s = 0; s <= STEPS; s++) visit(i + 1, { ...point, [g.keys[i]!.key]: windows[i]!.lo + ((windows[i]!.hi - windows[i]!.lo) * s) / STEPS });
      };
      visit(0, centre);
    }
    for (const k of g.keys) current[k.key] = Number(best[k.key]!.toPrecision(3));
  }
  const physics = { ...current, source } as GpuPhysicsOverrides;
  const after = compareSweep(records, sweepCluster(records, physics));
  const kinds = [...present].map((kind) => ({
    kind,
    points: before.filter((r) => r.kind === kind).length,
    mapeBefore: mape(before.filter((r) => r.kind === kind)),
    mapeAfter: mape(after.filter((r) => r.kind === kind)),
  }));
  const beforeConstants: Partial<GpuPhysics> = {};
  for (const g of FITS) for (const k of g.keys) (beforeConstants as Record<string, number>)[k.key] = table[k.key];
  return { gpu: base.gpu.name, architecture: table.architecture, before: beforeConstants, physics, kinds, rows: after };
}
