import { moduleParams } from '../spec/params';
import { problemOf, type Problem } from '../spec/problem';
import type { ClusterSpec, EngineCosts, ModelSpec, Profile } from '../spec/types';
import { fitCurve, fitInterference, type CurveFit, type TimedPoint } from './calibrate';
import { backwardKernels, backwardKinds, forwardKernels, type BackwardKind, type Kernel } from './kernels';
import { coRunSlowdown, curveTime, kernelsLoad, kernelsTimeMs, loadShares, type CurveParams } from './timing';
import { PHYSICS, physicsFor } from './physics';

/** How one module performs on one device, per microbatch of the model's micro-batch size. */
export type ModuleTiming = {
  readonly module: string;
  readonly params: number;
  readonly backward: BackwardKind;
  readonly forwardMs: (quotaFraction: number) => number;
  readonly backwardMs: (quotaFraction: number) => number;
  /** Share of the achieved HBM bandwidth drawn while running alone at this quota. */
  readonly bandwidthShare: (quotaFraction: number) => number;
  /** How hard it presses on its neighbours (max of compute use and bandwidth share); default: bandwidthShare. */
  readonly pressure?: (quotaFraction: number) => number;
  /** Share of its time that is memory-bound (stretched when the GPU's bandwidth is oversubscribed); default 0. */
  readonly memoryFraction?: (quotaFraction: number) => number;
  readonly fit?: { readonly forward: CurveFit; readonly backward?: CurveFit };
};

/** The problem (model, cluster and what follows from them) with how each module performs on the cluster. */
export type PerfModel = Problem & {
  readonly source: 'analytic' | 'calibrated';
  readonly timings: ReadonlyMap<string, ModuleTiming>;
  /**
   * γ of the interference model (src/perf/physics.ts): t_colocated = t_alone · max(1 + γ · Σ neighbours'
   * pressure, 1 + memory-bound share · (total bandwidth demand − 1)⁺). Fitted from co-running samples.
   */
  readonly interferenceAlpha: number;
  /** The CPU engine's measured costs (from the profile; CPU clusters only): the simulator adds them. */
  readonly engineCosts?: EngineCosts;
};

/** Interference coefficient of the CPU backend when no co-running samples calibrate it: the cpu physics row's γ. */
export const DEFAULT_INTERFERENCE_ALPHA = PHYSICS.cpu.interferenceGamma;

function memo(f: (q: number) => number): (q: number) => number {
  const cache = new Map<number, number>();
  return (q) => {
    let v = cache.get(q);
    if (v === undefined) {
      v = f(q);
      cache.set(q, v);
    }
    return v;
  };
}

/**
 * On a CPU cluster every quota level is a core count that `mosaic profile` measures directly, and a
 * module of small ops can run slower on more cores (a fork/join per op), which the fitted curve (never
 * increasing with q) cannot follow. There the measured times are used: linearly interpolated between
 * the profiled quotas, and outside their range the fitted curve scaled to meet the nearest one.
 */
export function measuredCurve(points: readonly TimedPoint[], params: CurveParams): (quotaFraction: number) => number {
  const byQuota = new Map<number, number[]>();
  for (const p of points) byQuota.set(p.quotaFraction, [...(byQuota.get(p.quotaFraction) ?? []), p.ms]);
  const pts = [...byQuota].map(([q, ms]) => ({ q, ms: ms.reduce((a, b) => a + b, 0) / ms.length })).sort((a, b) => a.q - b.q);
  const first = pts[0]!;
  const last = pts[pts.length - 1]!;
  const beyond = (q: number, edge: { q: number; ms: number }): number => {
    const at = curveTime(params, edge.q);
    return at > 0 ? curveTime(params, q) * (edge.ms / at) : edge.ms;
  };
  return (q) => {
    if (q <= first.q) return beyond(q, first);
    if (q >= last.q) return beyond(q, last);
    const i = pts.findIndex((p) => p.q >= q);
    const a = pts[i - 1]!;
    const b = pts[i]!;
    return a.ms + ((b.ms - a.ms) * (q - a.q)) / (b.q - a.q);
  };
}

/**
 * The performance model for a model on a cluster: analytic from the GPU spec, or calibrated from a
 * profile when one is given (modules the profile does not cover keep analytic curves).
 */
export function buildPerfModel(model: ModelSpec, cluster: ClusterSpec, profile?: Profile): PerfModel {
  const kinds = backwardKinds(model);
  const gpu = cluster.gpu;
  const { micro } = model.batch;
  const timings = new Map<string, ModuleTiming>();
  const kernelsOf = new Map<string, { fwd: Kernel[]; bwd: Kernel[] }>();
  for (const m of model.modules) {
    const kind = kinds.get(m.name)!;
    const fwd = forwardKernels(m, micro, model.precision, gpu.gemmTile);
    const bwd = backwardKernels(m, kind, micro, model.precision, gpu.gemmTile, model.activationCheckpointing);
    const all = [...fwd, ...bwd];
    kernelsOf.set(m.name, { fwd, bwd });
    // On a CPU the neighbours compete for shared caches, memory and (on VMs) sibling hyperthreads in
    // proportion to the cores they hold, not to a GPU's HBM bandwidth: the pressure is the core share.
    const cpu = cluster.device === 'cpu';
    // One load of all the module's kernels per quota serves the three shares.
    const shareCache = new Map<number, ReturnType<typeof loadShares>>();
    const shares = (q: number) => {
      let v = shareCache.get(q);
      if (v === undefined) shareCache.set(q, (v = loadShares(kernelsLoad(all, cluster, q), cluster)));
      return v;
    };
    timings.set(m.name, {
      module: m.name,
      params: moduleParams(m.arch),
      backward: kind,
      forwardMs: memo((q) => kernelsTimeMs(fwd, cluster, q)),
      backwardMs: memo((q) => kernelsTimeMs(bwd, cluster, q)),
      bandwidthShare: cpu ? (q) => q : (q) => shares(q).bandwidthShare,
      pressure: cpu ? (q) => q : (q) => shares(q).pressure,
      memoryFraction: cpu ? () => 0 : (q) => shares(q).memoryFraction,
    });
  }
  // γ of the cluster's physics row (the cpu row for a CPU cluster), until co-running samples fit it.
  let alpha = physicsFor(cluster).interferenceGamma;
  let calibrated = false;
  if (profile) {
    for (const m of model.modules) {
      const alone = profile.samples.filter((s) => s.module === m.name && !(s.coRunning && s.coRunning.length > 0));
      if (alone.length === 0) continue;
      // Samples at another micro-batch size are scaled linearly to the model's.
      const scale = (s: { micro: number }) => micro / s.micro;
      const forwardPoints = alone.map((s) => ({ quotaFraction: s.quotaFraction, ms: s.forwardMs * scale(s) }));
      const forward = fitCurve(forwardPoints);
      const withBackward = alone.filter((s) => s.backwardMs > 0);
      const backwardPoints = withBackward.map((s) => ({ quotaFraction: s.quotaFraction, ms: s.backwardMs * scale(s) }));
      const backward = withBackward.length > 0 ? fitCurve(backwardPoints) : undefined;
      const analytic = timings.get(m.name)!;
      const curve = (points: readonly TimedPoint[], params: CurveParams) => (cluster.device === 'cpu' ? measuredCurve(points, params) : (q: number) => curveTime(params, q));
      timings.set(m.name, {
        ...analytic,
        forwardMs: memo(curve(forwardPoints, forward.params)),
        backwardMs: backward && analytic.backward !== 'none' ? memo(curve(backwardPoints, backward.params)) : analytic.backwardMs,
        fit: { forward, backward },
      });
      calibrated = true;
    }
    const pairs = profile.samples.filter((s) => s.coRunning && s.coRunning.length > 0 && timings.has(s.module));
    const fitted = fitInterference(
      pairs.map((s) => {
        const t = timings.get(s.module)!;
        const alone = t.forwardMs(s.quotaFraction) * (s.micro / micro);
        const neighbourBandwidth = s.coRunning!.reduce((sum, n) => sum + pressureOf(timings.get(n.module), n.quotaFraction), 0);
        return { slowdown: s.forwardMs / alone, neighbourBandwidth };
      }),
    );
    if (fitted !== undefined) alpha = fitted;
  }
  return {
    ...problemOf(model, cluster),
    source: calibrated ? 'calibrated' : 'analytic',
    timings,
    interferenceAlpha: alpha,
    ...(cluster.device === 'cpu' && profile?.engine ? { engineCosts: profile.engine } : {}),
  };
}

/** How hard a module at quota `q` presses on its neighbours (0 for an unknown module). */
export function pressureOf(t: ModuleTiming | undefined, q: number): number {
  if (!t) return 0;
  return (t.pressure ?? t.bandwidthShare)(q);
}

type SlotLoad = { readonly modules: readonly string[]; readonly quotaFraction: number };

/**
 * Slowdown of a slot's work from its neighbours on the same GPU (src/perf/physics.ts, measured on an
 * H200): 1 + γ · Σ neighbour pressure (clocks and shared L2/HBM queues, felt by every kernel), or, when
 * the slot's own bandwidth demand plus its neighbours' exceeds what HBM gives, its memory-bound share
 * stretched by the oversubscription — whichever is larger. A slot that time-shares several modules is
 * charged for its hungriest one, and presses as hard as its hungriest one. Never below 1, so a bound
 * computed without interference stays a bound.
 */
export function interferenceFactor(perf: PerfModel, neighbours: readonly SlotLoad[], self?: SlotLoad): number {
  const hungriest = (n: SlotLoad, f: (t: ModuleTiming) => number) => Math.max(0, ...n.modules.map((m) => f(perf.timings.get(m)!)));
  const others = neighbours.map((n) => ({
    pressure: hungriest(n, (t) => pressureOf(t, n.quotaFraction)),
    bandwidthShare: hungriest(n, (t) => t.bandwidthShare(n.quotaFraction)),
  }));
  if (!self) return coRunSlowdown(undefined, others, perf.interferenceAlpha);
  return Math.max(
    1,
    ...self.modules.map((m) => {
      const t = perf.timings.get(m)!;
      return coRunSlowdown({ bandwidthShare: t.bandwidthShare(self.quotaFraction), memoryFraction: t.memoryFraction?.(self.quotaFraction) ?? 0 }, others, perf.interferenceAlpha);
    }),
  );
}
