/** Small helpers the SVG charts share: round axis ticks and labels that fit their boxes. */

export const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * Axis ticks at round values: a step of 1, 2 or 5 × 10^k chosen so that about `target` ticks cover
 * [lo, hi]; the ticks are the multiples of the step inside [lo, hi] (0 included when in range).
 */
export function niceTicks(lo: number, hi: number, target = 8): { step: number; ticks: number[] } {
  if (!(hi > lo) || !Number.isFinite(lo) || !Number.isFinite(hi)) return { step: 1, ticks: [lo] };
  const raw = (hi - lo) / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * mag).find((s) => s >= raw * (1 - 1e-9))!;
  const ticks: number[] = [];
  const first = Math.ceil(lo / step - 1e-9);
  for (let i = first; i * step <= hi + step * 1e-9; i++) ticks.push(Number((i * step).toPrecision(12)));
  return { step, ticks };
}

/** A tick value written with as many decimals as its step needs (step 0.05 → "0.15", step 200 → "400"). */
export function tickLabel(value: number, step: number): string {
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return value.toFixed(decimals);
}

/** Average advance of a sans-serif character, as a fraction of the font size (digits and lower case ≈ 0.55, capitals wider). */
const CHAR_WIDTH = 0.6;

/** Estimated width in pixels of `text` at `fontSize`. */
export function textWidth(text: string, fontSize: number): number {
  return [...text].length * CHAR_WIDTH * fontSize;
}

/**
 * `text` if it fits in `maxWidth` pixels at `fontSize`, else its start with an ellipsis, or '' when
 * not even two characters and the ellipsis fit (then the label is hidden).
 */
export function fitLabel(text: string, maxWidth: number, fontSize: number): string {
  if (textWidth(text, fontSize) <= maxWidth) return text;
  const chars = [...text];
  const n = Math.floor(maxWidth / (CHAR_WIDTH * fontSize)) - 1;
  if (n < 2) return '';
  return chars.slice(0, n).join('') + '…';
}
