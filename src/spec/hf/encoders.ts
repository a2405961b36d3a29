import type { BiasSite, ExtraTensor, ModuleSpec } from '../types';
import { stackSizes, type HfReader } from './reader';

/** Vision encoders read by {@link visionModule}, as `model_type` spells them. */
export const VISION_TYPES = ['clip_vision_model', 'siglip_vision_model', 'vit', 'intern_vit_6b'] as const;
export type VisionType = (typeof VISION_TYPES)[number];

/** Defaults of CLIPVisionConfig, SiglipVisionConfig, ViTConfig and InternVisionConfig for keys a config leaves out. */
const DEFAULTS: Readonly<Record<VisionType, { hidden: number; ffn: number; layers: number; heads: number; image: number; patch: number }>> = {
  clip_vision_model: { hidden: 768, ffn: 3072, layers: 12, heads: 12, image: 224, patch: 32 },
  siglip_vision_model: { hidden: 768, ffn: 3072, layers: 12, heads: 12, image: 224, patch: 16 },
  vit: { hidden: 768, ffn: 3072, layers: 12, heads: 12, image: 224, patch: 16 },
  intern_vit_6b: { hidden: 3200, ffn: 12800, layers: 48, heads: 25, image: 224, patch: 14 },
};

/** What a vision module hands on: its patch grid, so that a composite can size the projector. */
export type VisionShape = { readonly patches: number; readonly hidden: number };

/**
 * A ViT-style image encoder as a transformer module, with its embeddings as extra tensors:
 * CLIP (CLS, pre- and post-layernorm, patch conv without bias), SigLIP (no CLS, attention-pool head unless
 * `vision_use_head` is false), ViT (CLS, final layernorm; the pooler is left out), InternViT (CLS, layer
 * scales, optional QK-norm, RMSNorm or LayerNorm). One image per sample at `image_size`; `tokens` overrides.
 */
export function visionModule(r: HfReader, type: VisionType, name: string, tokens: number | undefined, notes: string[], imageSize?: number): { module: ModuleSpec; shape: VisionShape } {
  const d = DEFAULTS[type];
  const { int, note } = r.withDefaults();
  const { hidden, ffn, layers, heads } = stackSizes(int, d);
  const image = imageSize ?? int('image_size', d.image);
  const patch = int('patch_size', d.patch);
  const channels = r.int('num_channels', 3);
  if (hidden % heads !== 0) r.fail('num_attention_heads', `${heads} heads do not divide hidden_size ${hidden}`);
  if (patch > image) r.fail('patch_size', `patch_size ${patch} is larger than image_size ${image}`);
  // A stride-`patch` convolution: a remainder (384 px in 14 px patches) is cropped, as the conv does.
  const patches = Math.floor(image / patch) ** 2;

  let norm: 'layernorm' | 'rmsnorm' = 'layernorm';
  let biases: BiasSite[] = ['q', 'k', 'v', 'o', 'ffn'];
  let cls = true;
  const extra: ExtraTensor[] = [];
  switch (type) {
    case 'clip_vision_model':
      extra.push(
        { name: `patch_embedding (conv ${patch}x${patch}, no bias)`, shape: [hidden, channels, patch, patch] },
        { name: 'class_embedding', shape: [hidden] },
        { name: 'position_embedding', shape: [patches + 1, hidden] },
        { name: 'pre_layrnorm and post_layernorm (weight+bias)', shape: [2, 2, hidden] },
      );
      break;
    case 'siglip_vision_model': {
      cls = false;
      extra.push(
        { name: `patch_embedding (conv ${patch}x${patch})`, shape: [hidden, channels, patch, patch] },
        { name: 'patch_embedding.bias', shape: [hidden] },
        { name: 'position_embedding', shape: [patches, hidden] },
        { name: 'post_layernorm (weight+bias)', shape: [2, hidden] },
      );
      if (r.bool('vision_use_head', true)) {
        // SiglipMultiheadAttentionPoolingHead: probe, MultiheadAttention (in_proj 3h x h + 3h, out_proj h x h + h), layernorm, MLP.
        const head = hidden + 4 * hidden * hidden + 4 * hidden + 2 * hidden + 2 * hidden * ffn + ffn + hidden;
        extra.push({ name: 'head (attention pooling: probe, attention, layernorm, MLP; run once per image)', shape: [head] });
      }
      break;
    }
    case 'vit':
      if (!r.bool('qkv_bias', true)) biases = ['o', 'ffn'];
      extra.push(
        { name: `patch_embeddings (conv ${patch}x${patch})`, shape: [hidden, channels, patch, patch] },
        { name: 'patch_embeddings.bias', shape: [hidden] },
        { name: 'cls_token', shape: [hidden] },
        { name: 'position_embeddings', shape: [patches + 1, hidden] },
        { name: 'layernorm (weight+bias)', shape: [2, hidden] },
      );
      notes.push(`${name}: the ViTModel pooler (${(hidden * hidden + hidden).toLocaleString('en-US')} parameters) and any classifier are left out`);
      break;
    case 'intern_vit_6b': {
      const normType = r.str('norm_type', 'rms_norm');
      if (normType !== 'rms_norm' && normType !== 'layer_norm') r.fail('norm_type', `expected "rms_norm" or "layer_norm" but found ${JSON.stringify(normType)}`);
      norm = normType === 'rms_norm' ? 'rmsnorm' : 'layernorm';
      if (!r.bool('qkv_bias', false)) biases = ['o', 'ffn'];
      extra.push({ name: 'per-layer layer scales ls1, ls2', shape: [layers, 2, hidden] });
      if (r.bool('qk_normalization', true)) extra.push({ name: 'per-layer q_norm and k_norm', shape: [layers, norm === 'rmsnorm' ? 2 : 4, hidden] });
      extra.push(
        { name: `patch_embedding (conv ${patch}x${patch})`, shape: [hidden, channels, patch, patch] },
        { name: 'patch_embedding.bias', shape: [hidden] },
        { name: 'class_embedding', shape: [hidden] },
        { name: 'position_embedding', shape: [patches + 1, hidden] },
      );
      break;
    }
  }
  note(type, notes);
  const seq = tokens ?? patches + (cls ? 1 : 0);
  const origin = r.origin();
  const module: ModuleSpec = {
    name,
    kind: 'vision-encoder',
    description: `${type}${origin ? ` (${origin})` : ''}: ${layers} blocks of width ${hidden}, ${heads} heads, one ${image}x${image} image in ${patch}-px patches (${patches} patches${cls ? ' + CLS' : ''}). Imported by mosaic import hf.`,
    arch: { type: 'transformer', layers, hidden, ffn, heads, ffnGated: false, biases, norm, tokensPerSample: seq, causal: false, extraTensors: extra },
    trainable: true,
    inputs: [],
    outputElementsPerSample: seq * hidden,
    source: `${r.file}${r.pointer} (model_type ${type}${origin ? `, ${origin}` : ''}): hidden_size ${hidden}, intermediate_size ${ffn}, num_hidden_layers ${layers}, num_attention_heads ${heads}, image_size ${image}, patch_size ${patch}`,
  };
  return { module, shape: { patches, hidden } };
}

/**
 * The encoder of Whisper (`model_type` whisper): two 1-D convolutions over the log-mel frames, a sinusoidal
 * position table of `max_source_positions` (stored as a parameter), pre-LN blocks with biases on q, v, o and
 * the FFN but not on k, a final layernorm. A sample is one 30 s window (1500 positions); the decoder is left out.
 */
export function whisperEncoderModule(r: HfReader, name: string, tokens: number | undefined, notes: string[]): ModuleSpec {
  const d = r.int('d_model');
  const layers = r.int('encoder_layers');
  const heads = r.int('encoder_attention_heads');
  const ffn = r.int('encoder_ffn_dim');
  const mels = r.int('num_mel_bins', 80);
  const positions = r.int('max_source_positions', 1500);
  if (d % heads !== 0) r.fail('encoder_attention_heads', `${heads} heads do not divide d_model ${d}`);
  notes.push(`${name}: Whisper's decoder (${r.has('decoder_layers') ? `${r.int('decoder_layers')} layers` : 'all of it'}) is left out; only the encoder is a module`);
  const seq = tokens ?? positions;
  const origin = r.origin();
  return {
    name,
    kind: 'audio-encoder',
    description: `Whisper encoder${origin ? ` (${origin})` : ''}: ${layers} blocks of width ${d}, ${heads} heads, ${mels} mel bins, ${positions} positions per 30 s window. Imported by mosaic import hf.`,
    arch: {
      type: 'transformer',
      layers,
      hidden: d,
      ffn,
      heads,
      ffnGated: false,
      biases: ['q', 'v', 'o', 'ffn'],
      norm: 'layernorm',
      tokensPerSample: seq,
      causal: false,
      extraTensors: [
        { name: 'conv1 (kernel 3)', shape: [d, mels, 3] },
        { name: 'conv1.bias', shape: [d] },
        { name: 'conv2 (kernel 3, stride 2)', shape: [d, d, 3] },
        { name: 'conv2.bias', shape: [d] },
        { name: 'embed_positions', shape: [positions, d] },
        { name: 'layer_norm (weight+bias)', shape: [2, d] },
      ],
    },
    trainable: true,
    inputs: [],
    outputElementsPerSample: seq * d,
    source: `${r.file}${r.pointer} (model_type whisper${origin ? `, ${origin}` : ''}): d_model ${d}, encoder_layers ${layers}, encoder_attention_heads ${heads}, encoder_ffn_dim ${ffn}, num_mel_bins ${mels}, max_source_positions ${positions}`,
  };
}
