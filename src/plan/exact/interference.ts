/**
 * The least interference a slot of a pattern sees in any plan that maps to the pattern (README.md in this
 * folder, "Interference"). The simulator slows a slot by at least 1 + γ · Σ over its neighbours of the
 * pressure of each neighbour's hungriest module; a neighbour hosts its explicit modules (so presses at
 * least as hard as the hungriest of them) or, with none, at least one implicit module (a plan has no empty
 * slot), so it presses at least as hard as the gentlest of those. Patterns keep the plan's own levels
 * wherever raising a slot would raise this floor, so the level used here is the plan's.
 */

import type { BoundTerms } from './terms';

/** A pattern slot as this file reads it (patterns.ts's `Slot`, which imports this file). */
type SlotLevels = { readonly level: number; readonly low?: number; readonly explicit: readonly number[] };

/** Rounding margin: a floor computed in floating point must not exceed the simulator's own sum. */
const ROUNDING = 1 - 1e-9;

/**
 * Least pressure a slot with these explicit modules exerts on its neighbours in any plan, at any level
 * from `low` to `level` (a group of levels, when the relaxation groups them; one level otherwise).
 */
export function slotPressureFloor(terms: BoundTerms, explicit: readonly string[], implicit: readonly string[], level: number, low = level): number {
  let floor = Infinity;
  for (let l = low; l <= level; l++) {
    const at = (m: string) => terms.modules.get(m)!.pressureAt[l];
    floor = Math.min(floor, explicit.length > 0 ? Math.max(...explicit.map(at)) : implicit.length > 0 ? Math.min(...implicit.map(at)) : 0);
  }
  return floor;
}

/** Least interference factor of slot `s` of a pattern's slot list. */
export function slotFactorFloor(terms: BoundTerms, set: { readonly explicit: readonly string[]; readonly implicit: readonly string[] }, slots: readonly SlotLevels[], s: number): number {
  let pressure = 0;
  slots.forEach((o, i) => {
    if (i !== s) pressure += slotPressureFloor(terms, o.explicit.map((e) => set.explicit[e]), set.implicit, o.level, o.low ?? o.level);
  });
  return 1 + terms.gamma * pressure * ROUNDING;
}

/**
 * What one microbatch of `module` costs a slot at `level` slowed by `factor` (device time stretched, task
 * cost not): the least over every level up to `level`. A pattern slot stands for plan slots at its level
 * or below (raised within free SMs, or a group of levels), and a module can run a little slower at a
 * larger quota (wave quantization), so the least up to the level is what bounds them all; it also makes
 * the relaxation's times non-increasing in the quota, which keeping only maximal patterns needs.
 */
export function microbatchMs(terms: BoundTerms, module: string, level: number, factor: number): number {
  const mt = terms.modules.get(module)!;
  let least = Infinity;
  for (let l = 0; l <= level; l++) least = Math.min(least, mt.microbatchAt[l] + (factor - 1) * mt.deviceAt[l]);
  return least;
}
