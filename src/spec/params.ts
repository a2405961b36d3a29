/**
 * Parameter counts computed from a module's architecture.
 *
 * The formula is fixed so that counts are reproducible and comparable with published numbers
 * (the tests check every dataset module against its `publishedParams` within 2%).
 *
 * **transformer** — per block, multiplied by `layers`:
 * - attention weights: q `h·h`, k `h·kvDim`, v `h·kvDim`, o `h·h`, where
 *   `kvDim = (kvHeads ?? heads) · (h / heads)`;
 * - attention biases, for each site listed in `biases`: q adds `h`, k adds `kvDim`, v adds `kvDim`, o adds `h`;
 * - FFN weights: `2·h·ffn` (plain) or `3·h·ffn` (gated: gate, up and down);
 * - FFN biases, when `biases` lists `ffn`: `ffn + h` (plain) or `2·ffn + h` (gated);
 * - two norms: `2h` each for layernorm (weight and bias), `h` each for rmsnorm.
 *
 * Outside the blocks: with `vocab`, a token embedding `vocab·h`, plus an LM head `vocab·h` unless
 * `tiedEmbeddings`; plus the product of the shape of every `extraTensors` entry (final norms, patch and
 * position embeddings, cls tokens, mergers, per-layer q/k-norms and layer scales, ...).
 *
 * **mlp** — `Σ widths[i]·widths[i+1]` (plus `widths[i+1]` per layer with `bias`) plus `extraTensors`.
 *
 * **explicit** — `params` as given.
 */

import type { ExtraTensor, ModuleArch, TransformerArch } from './types';

/** One named group of parameters and its element count. */
export type ParamGroup = { readonly name: string; readonly count: number };

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function extraGroups(extra: readonly ExtraTensor[] | undefined): ParamGroup[] {
  return (extra ?? []).map((t) => ({ name: t.name, count: product(t.shape) }));
}

function transformerGroups(a: TransformerArch): ParamGroup[] {
  const h = a.hidden;
  const L = a.layers;
  if (a.heads <= 0 || h % a.heads !== 0) {
    throw new Error(`transformer hidden ${h} is not divisible by heads ${a.heads}`);
  }
  const kvDim = (a.kvHeads ?? a.heads) * (h / a.heads);
  const has = (site: 'q' | 'k' | 'v' | 'o' | 'ffn'): boolean => a.biases.includes(site);

  const attnWeights = h * h + 2 * h * kvDim + h * h;
  const attnBiases = (has('q') ? h : 0) + (has('k') ? kvDim : 0) + (has('v') ? kvDim : 0) + (has('o') ? h : 0);
  const ffnWeights = (a.ffnGated ? 3 : 2) * h * a.ffn;
  const ffnBiases = has('ffn') ? (a.ffnGated ? 2 * a.ffn : a.ffn) + h : 0;
  const norms = 2 * (a.norm === 'layernorm' ? 2 * h : h);

  const groups: ParamGroup[] = [
    { name: 'attention.weights', count: L * attnWeights },
    { name: 'attention.biases', count: L * attnBiases },
    { name: 'ffn.weights', count: L * ffnWeights },
    { name: 'ffn.biases', count: L * ffnBiases },
    { name: 'block.norms', count: L * norms },
  ];
  if (a.vocab !== undefined) {
    groups.push({ name: 'token_embedding', count: a.vocab * h });
    if (!a.tiedEmbeddings) groups.push({ name: 'lm_head', count: a.vocab * h });
  }
  return [...groups.filter((g) => g.count > 0), ...extraGroups(a.extraTensors)];
}

/** Parameter groups of a module, by name; their counts sum to {@link moduleParams}. */
export function paramBreakdown(arch: ModuleArch): { readonly name: string; readonly count: number }[] {
  switch (arch.type) {
    case 'transformer':
      return transformerGroups(arch);
    case 'mlp': {
      const groups: ParamGroup[] = [];
      for (let i = 0; i + 1 < arch.widths.length; i++) {
        const fanIn = arch.widths[i]!;
        const fanOut = arch.widths[i + 1]!;
        groups.push({ name: `linear${i}.weight`, count: fanIn * fanOut });
        if (arch.bias) groups.push({ name: `linear${i}.bias`, count: fanOut });
      }
      return [...groups, ...extraGroups(arch.extraTensors)];
    }
    case 'explicit':
      return [{ name: 'explicit', count: arch.params }];
  }
}

/** Total parameter count of a module (the sum of {@link paramBreakdown}). */
export function moduleParams(arch: ModuleArch): number {
  return paramBreakdown(arch).reduce((s, g) => s + g.count, 0);
}
