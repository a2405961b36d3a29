/**
 * `mosaic calibrate` as a library: checks that a profile fits a model and a cluster, builds the
 * calibrated performance model, and reports how well each module's curve fits its samples.
 */

import { inputError } from '../errors';
import type { ClusterSpec, ModelSpec, Profile } from '../spec/types';
import type { CurveParams } from './timing';
import { backwardKinds, type BackwardKind } from './kernels';
import { buildPerfModel, DEFAULT_INTERFERENCE_ALPHA, type PerfModel } from './perf-model';

/** A curve needs samples at this many distinct quotas to say anything about its shape. */
export const MIN_QUOTA_LEVELS = 2;

export type CurveReport = CurveParams & { readonly mapePercent: number; readonly points: number };

export type ModuleCalibration =
  | {
      readonly module: string;
      readonly source: 'calibrated';
      /** Distinct quota fractions of the solo samples, ascending. */
      readonly quotaFractions: readonly number[];
      readonly forward: CurveReport;
      /** Absent when the module runs no backward in this model (frozen, nothing trainable upstream). */
      readonly backward?: CurveReport;
      readonly backwardKind: BackwardKind;
    }
  | { readonly module: string; readonly source: 'analytic'; readonly reason: string };

export type CalibrationReport = {
  readonly model: string;
  readonly cluster: string;
  readonly device: string;
  /**
   * What the planner's module times come from: on a CPU cluster the measured times themselves
   * (interpolated between the profiled core counts; see `measuredCurve`), on a GPU the fitted curves.
   */
  readonly timesFrom: 'measured points' | 'fitted curves';
  /** Shape scale the profile's programs were compiled at, when the profile says (1 = real shapes). */
  readonly scale?: number;
  readonly modules: readonly ModuleCalibration[];
  readonly interference: {
    readonly alpha: number;
    readonly source: 'fitted' | 'default';
    /** Co-running samples used. */
    readonly samples: number;
    /** MAPE of the co-running forward times predicted with the fitted α (when there are samples). */
    readonly mapePercent?: number;
  };
  readonly perf: PerfModel;
};

/**
 * Checks a profile against the model and cluster: its model, its device, the modules it names and
 * enough quota levels per module. Throws E_INPUT, one line per problem, each naming `where`. Returns
 * the quota levels of each module's solo samples, ascending.
 */
export function checkProfile(model: ModelSpec, cluster: ClusterSpec, profile: Profile, where: string): ReadonlyMap<string, readonly number[]> {
  if (profile.model !== model.name) {
    throw inputError(`${where}: this profile was measured for model "${profile.model}", not "${model.name}"; run \`mosaic profile --model ${model.name}\` first`);
  }
  const device = cluster.gpu.name;
  const foreign = [...new Set(profile.samples.map((s) => s.device).filter((d) => d !== device))];
  if (foreign.length > 0) {
    throw inputError(`${where}: samples were measured on ${foreign.map((d) => `"${d}"`).join(', ')} but cluster ${cluster.name} has device "${device}"; pass the matching --cluster (local-cpu for a CPU profile made on this machine)`);
  }
  const names = new Set(model.modules.map((m) => m.name));
  const problems: string[] = [];
  profile.samples.forEach((s, i) => {
    if (!names.has(s.module)) problems.push(`${where}: /samples/${i}/module: module "${s.module}" is not in model ${model.name}`);
    for (const [j, c] of (s.coRunning ?? []).entries()) {
      if (!names.has(c.module)) problems.push(`${where}: /samples/${i}/coRunning/${j}/module: module "${c.module}" is not in model ${model.name}`);
    }
  });
  if (problems.length > 0) throw inputError(problems);

  const levels = new Map<string, number[]>();
  for (const m of model.modules) {
    const solo = profile.samples.filter((s) => s.module === m.name && !(s.coRunning && s.coRunning.length > 0));
    levels.set(m.name, [...new Set(solo.map((s) => s.quotaFraction))].sort((a, b) => a - b));
  }
  const tooFew = model.modules.filter((m) => {
    const n = (levels.get(m.name) as number[]).length;
    return n > 0 && n < MIN_QUOTA_LEVELS;
  });
  if (tooFew.length > 0) {
    throw inputError(
      tooFew.map((m) => `${where}: too few points for module ${m.name}: solo samples at ${(levels.get(m.name) as number[]).map((q) => q.toFixed(3)).join(', ')} only; a curve needs at least ${MIN_QUOTA_LEVELS} quota levels (profile with more --levels)`),
    );
  }
  if (model.modules.every((m) => (levels.get(m.name) as number[]).length === 0)) {
    throw inputError(`${where}: too few points: no solo samples for any module of ${model.name}`);
  }
  return levels;
}

/**
 * Checks the profile (`checkProfile`), then fits. A module without solo samples keeps its analytic
 * curve and says so.
 */
export function calibrate(model: ModelSpec, cluster: ClusterSpec, profile: Profile, where: string): CalibrationReport {
  const levels = checkProfile(model, cluster, profile, where);
  const device = cluster.gpu.name;
  const perf = buildPerfModel(model, cluster, profile);
  const kinds = backwardKinds(model);
  const curve = (fit: { params: CurveParams; mapePercent: number; points: number }): CurveReport => ({ ...fit.params, mapePercent: fit.mapePercent, points: fit.points });
  const modules: ModuleCalibration[] = model.modules.map((m) => {
    const t = perf.timings.get(m.name);
    if (!t?.fit) return { module: m.name, source: 'analytic', reason: 'not in the profile; analytic curve from the device spec' };
    const kind = kinds.get(m.name) as BackwardKind;
    return {
      module: m.name,
      source: 'calibrated',
      quotaFractions: levels.get(m.name) ?? [],
      forward: curve(t.fit.forward),
      ...(t.fit.backward && kind !== 'none' ? { backward: curve(t.fit.backward) } : {}),
      backwardKind: kind,
    };
  });

  // Interference: how well 1 + α·(neighbours' bandwidth share) explains the co-running samples.
  const micro = model.batch.micro;
  const pairs = profile.samples.filter((s) => s.coRunning && s.coRunning.length > 0);
  let mapePercent: number | undefined;
  if (pairs.length > 0) {
    let sum = 0;
    for (const s of pairs) {
      const t = perf.timings.get(s.module)!;
      const demand = s.coRunning!.reduce((acc, n) => acc + (perf.timings.get(n.module)?.bandwidthShare(n.quotaFraction) ?? 0), 0);
      const predicted = t.forwardMs(s.quotaFraction) * (s.micro / micro) * (1 + perf.interferenceAlpha * demand);
      sum += Math.abs(predicted - s.forwardMs) / s.forwardMs;
    }
    mapePercent = (100 * sum) / pairs.length;
  }
  const fitted = pairs.length > 0 && pairs.some((s) => s.coRunning!.some((n) => (perf.timings.get(n.module)?.bandwidthShare(n.quotaFraction) ?? 0) > 0));
  const scale = (profile as { measurement?: { scale?: unknown } }).measurement?.scale;
  return {
    model: model.name,
    cluster: cluster.name,
    device,
    timesFrom: cluster.device === 'cpu' ? 'measured points' : 'fitted curves',
    ...(typeof scale === 'number' ? { scale } : {}),
    modules,
    interference: {
      alpha: perf.interferenceAlpha,
      source: fitted ? 'fitted' : 'default',
      samples: pairs.length,
      ...(mapePercent !== undefined ? { mapePercent } : {}),
    },
    perf,
  };
}

export { DEFAULT_INTERFERENCE_ALPHA };
