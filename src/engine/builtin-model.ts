/**
 * The built-in multimodal model (DESIGN §5 "Training"): two encoders and a fusion head that train for
 * real on the CPU backend, on a synthetic task generated from a seed.
 *
 * - `image`: an MLP encoder, 16 features → 32 → 16.
 * - `audio`: a one-block transformer encoder over 4 tokens of width 8 (2 heads, FFN 16).
 * - `head`: an MLP fusion head over the concatenated encoder outputs (16 + 4·8 = 48) → 32 → 4 logits,
 *   trained with softmax cross-entropy.
 *
 * Task: a sample's class is `2·[u·image > 0] + [v·Σ_t audio_t > 0]` for two teacher directions `u`,
 * `v` drawn from the seed, with every sample pushed a margin away from both boundaries. The class needs
 * both modalities, so both encoders must pass information (chance loss is ln 4 ≈ 1.386).
 *
 * The same spec ships as datasets/models/builtin-mm.json, so `mosaic plan --model builtin-mm
 * --cluster local-cpu` plans it; the trainer recognises it by {@link isBuiltinModel}.
 */

import type { ModelSpec, ModuleSpec } from '../spec/types';
import { scaledGradient, type Objective } from './objective';
import { compileModule, type ModuleProgram } from './program';
import { seededRandom } from '../util/seeded-random';

export const BUILTIN_MODEL_NAME = 'builtin-mm';
export const BUILTIN_IMAGE_FEATURES = 16;
export const BUILTIN_AUDIO_TOKENS = 4;
export const BUILTIN_AUDIO_WIDTH = 8;
export const BUILTIN_CLASSES = 4;
/** Adam learning rate of the built-in model. */
export const BUILTIN_LR = 0.01;
/** Distance every sample is pushed away from each teacher boundary (in units of the unit normal). */
const MARGIN = 0.5;

const SOURCE = 'synthetic built-in model of mosaic (src/engine/builtin-model.ts)';

const modules: readonly ModuleSpec[] = [
  {
    name: 'image',
    kind: 'vision-encoder',
    description: 'MLP encoder of 16 image features',
    arch: { type: 'mlp', widths: [BUILTIN_IMAGE_FEATURES, 32, 16], bias: true, tokensPerSample: 1 },
    trainable: true,
    inputs: [],
    outputElementsPerSample: 16,
    source: SOURCE,
  },
  {
    name: 'audio',
    kind: 'audio-encoder',
    description: 'one-block transformer encoder over 4 audio tokens of width 8',
    arch: {
      type: 'transformer',
      layers: 1,
      hidden: BUILTIN_AUDIO_WIDTH,
      ffn: 16,
      heads: 2,
      ffnGated: false,
      // No k bias: it adds the same score to every key of a row, so softmax cancels it and its gradient is pure rounding noise (which Adam would amplify).
      biases: ['q', 'v', 'o', 'ffn'],
      norm: 'layernorm',
      tokensPerSample: BUILTIN_AUDIO_TOKENS,
      causal: false,
    },
    trainable: true,
    inputs: [],
    outputElementsPerSample: BUILTIN_AUDIO_TOKENS * BUILTIN_AUDIO_WIDTH,
    source: SOURCE,
  },
  {
    name: 'head',
    kind: 'decoder',
    description: 'fusion head over both encoders, softmax cross-entropy over 4 classes',
    arch: { type: 'mlp', widths: [16 + BUILTIN_AUDIO_TOKENS * BUILTIN_AUDIO_WIDTH, 32, BUILTIN_CLASSES], bias: true, tokensPerSample: 1 },
    trainable: true,
    inputs: ['image', 'audio'],
    outputElementsPerSample: BUILTIN_CLASSES,
    source: SOURCE,
  },
];

/** The built-in model as a ModelSpec (valid against schemas/model.schema.json and check-model). */
export const BUILTIN_MODEL: ModelSpec = {
  name: BUILTIN_MODEL_NAME,
  description:
    'Built-in two-encoder multimodal model that trains for real on the CPU backend: an MLP image encoder, a one-block transformer audio encoder and an MLP fusion head with softmax cross-entropy, on a seeded synthetic task whose class needs both modalities.',
  precision: 'fp32',
  optimizer: { name: 'Adam', stateBytesPerParam: 8, zeroStage: 0 },
  batch: { global: 32, micro: 4 },
  activationCheckpointing: false,
  modules,
  sources: [SOURCE],
};

/** True when a model has the built-in model's modules (name, architecture and edges), whatever its batch. */
export function isBuiltinModel(model: ModelSpec): boolean {
  if (model.modules.length !== modules.length) return false;
  return modules.every((m) => {
    const other = model.modules.find((o) => o.name === m.name);
    return other !== undefined && JSON.stringify(other.arch) === JSON.stringify(m.arch) && JSON.stringify(other.inputs) === JSON.stringify(m.inputs);
  });
}

/**
 * The built-in model's programs for microbatches of `micro` samples (scale 1; `trainable` flags
 * taken from `model`, the built-in spec by default).
 */
export function builtinPrograms(micro: number, model: ModelSpec = BUILTIN_MODEL): Map<string, ModuleProgram> {
  const out = new Map<string, ModuleProgram>();
  for (const m of model.modules) {
    const inputWidth = m.inputs.reduce((s, i) => s + (out.get(i) as ModuleProgram).outputElementsPerSample, 0);
    out.set(m.name, compileModule(m, { micro, scale: 1, lr: BUILTIN_LR, ...(m.inputs.length > 0 ? { inputWidth } : {}) }));
  }
  return out;
}

export { seededRandom };

/** Mixes integers into one 32-bit seed. */
export function mixSeed(...parts: readonly number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193) >>> 0;
    h = Math.imul(h ^ (h >>> 15), 0x85ebca6b) >>> 0;
  }
  return h >>> 0;
}

function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

function unit(v: number[]): number[] {
  const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return v.map((x) => x / n);
}

/**
 * The built-in model's objective: softmax cross-entropy of the head's logits against the synthetic
 * labels, with the image and audio inputs and the labels of each microbatch written every iteration.
 */
export function builtinObjective(seed: number): Objective {
  return {
    lossOnFrozenSinks: true,
    sink(s) {
      const tmp = s.alloc(s.n);
      const loss = s.alloc(1);
      const labels = s.alloc(s.micro);
      const probs = s.alloc(s.n);
      const labelBuf = s.buffer(labels);
      const imageBuf = s.dataOf('image');
      const audioBuf = s.dataOf('audio');
      return {
        forward: [{ op: 'softmaxCrossEntropy', logits: s.out, labels, loss, probs, rows: s.micro, cols: BUILTIN_CLASSES }],
        backward: [{ op: 'softmaxCrossEntropyBackward', probs, labels, dLogits: tmp, rows: s.micro, cols: BUILTIN_CLASSES }, ...scaledGradient(s, tmp)],
        loss: s.buffer(loss),
        fill: (iteration) => {
          const batch = builtinSamples(seed, iteration, s.k * s.micro, s.micro);
          imageBuf.set(batch.image);
          audioBuf.set(batch.audio);
          labelBuf.set(batch.labels);
        },
      };
    },
  };
}

export type BuiltinBatch = {
  /** count × 16 image features. */
  readonly image: Float32Array;
  /** count × 4 tokens × 8 audio features. */
  readonly audio: Float32Array;
  /** count class indices in [0, 4), stored as floats. */
  readonly labels: Float32Array;
};

/**
 * Samples `first .. first+count-1` of iteration `iteration` of the synthetic task for `seed`. Each
 * sample depends only on (seed, iteration, sample index), so every plan sees the same data.
 */
export function builtinSamples(seed: number, iteration: number, first: number, count: number): BuiltinBatch {
  const teacher = seededRandom(mixSeed(seed, 0x7eac4e));
  const u = unit(Array.from({ length: BUILTIN_IMAGE_FEATURES }, () => gaussian(teacher)));
  const v = unit(Array.from({ length: BUILTIN_AUDIO_WIDTH }, () => gaussian(teacher)));
  const D = BUILTIN_AUDIO_TOKENS * BUILTIN_AUDIO_WIDTH;
  const image = new Float32Array(count * BUILTIN_IMAGE_FEATURES);
  const audio = new Float32Array(count * D);
  const labels = new Float32Array(count);
  for (let s = 0; s < count; s++) {
    const rand = seededRandom(mixSeed(seed, iteration, first + s));
    const x = Array.from({ length: BUILTIN_IMAGE_FEATURES }, () => gaussian(rand));
    const bit1 = x.reduce((acc, xi, i) => acc + xi * (u[i] as number), 0) > 0 ? 1 : 0;
    const a = Array.from({ length: D }, () => gaussian(rand));
    let proj = 0;
    for (let t = 0; t < BUILTIN_AUDIO_TOKENS; t++) for (let i = 0; i < BUILTIN_AUDIO_WIDTH; i++) proj += (a[t * BUILTIN_AUDIO_WIDTH + i] as number) * (v[i] as number);
    const bit2 = proj > 0 ? 1 : 0;
    const s1 = bit1 ? MARGIN : -MARGIN;
    // Σ_t v·a_t has standard deviation 2 over 4 tokens: shifting each token by MARGIN/2 moves the sum by 2·MARGIN.
    const s2 = (bit2 ? MARGIN : -MARGIN) / 2;
    for (let i = 0; i < BUILTIN_IMAGE_FEATURES; i++) image[s * BUILTIN_IMAGE_FEATURES + i] = (x[i] as number) + s1 * (u[i] as number);
    for (let t = 0; t < BUILTIN_AUDIO_TOKENS; t++) {
      for (let i = 0; i < BUILTIN_AUDIO_WIDTH; i++) {
        const j = t * BUILTIN_AUDIO_WIDTH + i;
        audio[s * D + j] = (a[j] as number) + s2 * (v[i] as number);
      }
    }
    labels[s] = 2 * bit1 + bit2;
  }
  return { image, audio, labels };
}
