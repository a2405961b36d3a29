/**
 * Quotas → SM groups, the pure logic of the CUDA backend (DESIGN §5).
 *
 * A device can only be split into groups whose sizes are `minSms + k · stepSms` (k ≥ 0), and the
 * groups together may not use more than `smCount` SMs. The rounding rule:
 *   1. every module's target is `quotaFraction · smCount` SMs;
 *   2. start from the largest allowed size ≤ target (never below `minSms`);
 *   3. while the groups exceed the device, shrink by one step the group with the largest surplus
 *      (size − target) that is still above `minSms`;
 *   4. while there is room, grow by one step the group with the largest deficit (target − size),
 *      only if that deficit is at least half a step (so growing reduces its error).
 * Result: the sum never exceeds the device, no group is below the minimum, each group is within
 * about one step of its target, and the per-group rounding error is reported.
 * Ties are broken by module order, so the result is deterministic.
 */

import { EngineError } from './ops';

/** What a device allows. `smCount` is the usable SM count. */
export type SmGranularity = {
  readonly smCount: number;
  /** Smallest group, in SMs. */
  readonly minSms: number;
  /** Group sizes grow in steps of this many SMs. */
  readonly stepSms: number;
};

export type ModuleQuota = {
  readonly module: string;
  /** Share of the device's SMs, in (0, 1]. */
  readonly quotaFraction: number;
};

export type SmGroup = {
  readonly module: string;
  readonly quotaFraction: number;
  /** quotaFraction · smCount, unrounded. */
  readonly targetSms: number;
  /** SMs given to the module (a multiple of the granularity). */
  readonly smCount: number;
  /** smCount − targetSms (negative: the module got less than its quota). */
  readonly roundingErrorSms: number;
  /** smCount / device smCount. */
  readonly realizedQuotaFraction: number;
};

export type SmPartition = {
  readonly groups: readonly SmGroup[];
  readonly deviceSms: number;
  readonly assignedSms: number;
  readonly unusedSms: number;
  readonly maxAbsRoundingErrorSms: number;
};

/** Guideline granularity by compute capability (cuda.h, "Green Contexts"); prefer probing the device. */
export function granularityForComputeCapability(major: number, smCount: number): SmGranularity {
  if (!Number.isInteger(major) || major < 6) {
    throw new EngineError('E_CUDA_PARTITION', `Expected a compute capability major version >= 6 (green contexts) but received ${major}`);
  }
  if (major >= 9) return { smCount, minSms: 8, stepSms: 8 };
  if (major === 8) return { smCount, minSms: 4, stepSms: 2 };
  return { smCount, minSms: 2, stepSms: 2 };
}

/** NVIDIA H100 SXM: 132 SMs, groups of 8. */
export const H100_SXM: SmGranularity = { smCount: 132, minSms: 8, stepSms: 8 };

/**
 * Granularity that `cudaCreatePartition` can realize on a probed device: it composes groups out of
 * equal units returned by cuDevSmResourceSplitByCount, so sizes are multiples of the unit and the
 * SMs beyond the last whole unit cannot be used.
 */
export function granularityFromProbe(device: { readonly partitionUnitSms: number; readonly partitionUnits: number }): SmGranularity {
  const unit = device.partitionUnitSms;
  if (!Number.isInteger(unit) || unit < 1) {
    throw new EngineError('E_CUDA_PARTITION', `Expected the device to report a partition unit >= 1 SM but received ${unit}`);
  }
  return { smCount: unit * device.partitionUnits, minSms: unit, stepSms: unit };
}

function validateGranularity(g: SmGranularity): void {
  const check = (name: string, v: number): void => {
    if (!Number.isInteger(v) || v < 1) throw new EngineError('E_CUDA_PARTITION', `Expected ${name} to be a positive integer but received ${String(v)}`);
  };
  check('smCount', g.smCount);
  check('minSms', g.minSms);
  check('stepSms', g.stepSms);
}

/** Validates quotas: each in (0, 1], names unique and non-empty, total ≤ 1 (1e-9 slack). */
export function validateQuotas(quotas: readonly ModuleQuota[]): void {
  if (quotas.length === 0) throw new EngineError('E_BAD_QUOTA', 'Expected at least one module quota but received none');
  const seen = new Set<string>();
  for (const q of quotas) {
    if (typeof q.module !== 'string' || q.module.length === 0) {
      throw new EngineError('E_BAD_QUOTA', `Expected a non-empty module name but received ${JSON.stringify(q.module)}`);
    }
    if (seen.has(q.module)) throw new EngineError('E_BAD_QUOTA', `Expected unique module names but "${q.module}" appears twice`);
    seen.add(q.module);
    const f = q.quotaFraction;
    if (typeof f !== 'number' || !Number.isFinite(f) || f <= 0 || f > 1) {
      throw new EngineError('E_BAD_QUOTA', `Expected a quota in (0, 1] for module "${q.module}" but received ${String(f)}`);
    }
  }
  const total = quotas.reduce((s, q) => s + q.quotaFraction, 0);
  if (total > 1 + 1e-9) {
    const parts = quotas.map((q) => `${q.module} ${q.quotaFraction}`).join(', ');
    throw new EngineError('E_BAD_QUOTA', `Expected quotas on one device to sum to at most 1 but they sum to ${+total.toFixed(6)} (${parts})`);
  }
}

/** Rounds quotas to SM groups (see the rule at the top of this file). */
export function partitionSms(quotas: readonly ModuleQuota[], granularity: SmGranularity, unitName = 'SMs'): SmPartition {
  validateQuotas(quotas);
  validateGranularity(granularity);
  const { smCount: S, minSms: min, stepSms: step } = granularity;
  if (quotas.length * min > S) {
    throw new EngineError(
      'E_PARTITION_INFEASIBLE',
      `Cannot give ${quotas.length} modules at least ${min} ${unitName} each on a device with ${S} usable ${unitName}`,
    );
  }
  const targets = quotas.map((q) => q.quotaFraction * S);
  // (2) largest allowed size ≤ target, at least min.
  const sizes = targets.map((t) => (t <= min ? min : min + step * Math.floor((t - min) / step + 1e-9)));
  const sum = (): number => sizes.reduce((a, b) => a + b, 0);
  // (3) shrink the most over-served group until the device fits.
  while (sum() > S) {
    let best = -1;
    for (let i = 0; i < sizes.length; i++) {
      if ((sizes[i] as number) - step < min) continue;
      if (best < 0 || (sizes[i] as number) - (targets[i] as number) > (sizes[best] as number) - (targets[best] as number)) best = i;
    }
    if (best < 0) throw new EngineError('E_INTERNAL', 'SM rounding could not fit the device (unreachable)');
    sizes[best] = (sizes[best] as number) - step;
  }
  // (4) grow the most under-served group while it helps and fits.
  for (;;) {
    if (sum() + step > S) break;
    let best = -1;
    for (let i = 0; i < sizes.length; i++) {
      const deficit = (targets[i] as number) - (sizes[i] as number);
      if (deficit < step / 2 - 1e-9) continue;
      if (best < 0 || deficit > (targets[best] as number) - (sizes[best] as number)) best = i;
    }
    if (best < 0) break;
    sizes[best] = (sizes[best] as number) + step;
  }
  const groups: SmGroup[] = quotas.map((q, i) => ({
    module: q.module,
    quotaFraction: q.quotaFraction,
    targetSms: targets[i] as number,
    smCount: sizes[i] as number,
    roundingErrorSms: (sizes[i] as number) - (targets[i] as number),
    realizedQuotaFraction: (sizes[i] as number) / S,
  }));
  const assigned = sum();
  return {
    groups,
    deviceSms: S,
    assignedSms: assigned,
    unusedSms: S - assigned,
    maxAbsRoundingErrorSms: Math.max(...groups.map((g) => Math.abs(g.roundingErrorSms))),
  };
}
