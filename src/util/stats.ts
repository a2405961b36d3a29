/** Summary statistics of timing samples, shared by the profiler, `mosaic train` and the benches. */

/** Arithmetic mean; NaN for no values. */
export const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Median (the mean of the two middle values for an even count); 0 for no values. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Mean of the middle 80% (10% cut from each end, at least one each side once there are 5 values). */
export function trimmedMean(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const cut = s.length >= 5 ? Math.max(1, Math.floor(s.length * 0.1)) : 0;
  return mean(s.slice(cut, s.length - cut));
}
