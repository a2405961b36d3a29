import type { BiasSite, ExtraTensor, ModuleSpec } from '../types';
import { stackSizes, type HfReader } from './reader';

/** Decoder-only LLM families read by {@link llmModule}, as `model_type` spells them. */
export const LLM_TYPES = ['llama', 'mistral', 'qwen2', 'gemma', 'gemma2', 'internlm2'] as const;
export type LlmType = (typeof LLM_TYPES)[number];

/** The defaults of each transformers config class (LlamaConfig, ...), used for keys a config leaves out. */
const DEFAULTS: Readonly<Record<LlmType, { hidden: number; ffn: number; layers: number; heads: number; kvHeads?: number; vocab: number; tied: boolean; headDim?: number }>> = {
  llama: { hidden: 4096, ffn: 11008, layers: 32, heads: 32, vocab: 32000, tied: false },
  mistral: { hidden: 4096, ffn: 14336, layers: 32, heads: 32, kvHeads: 8, vocab: 32000, tied: false },
  qwen2: { hidden: 4096, ffn: 22016, layers: 32, heads: 32, kvHeads: 32, vocab: 151936, tied: false },
  gemma: { hidden: 3072, ffn: 24576, layers: 28, heads: 16, kvHeads: 16, vocab: 256000, tied: true, headDim: 256 },
  gemma2: { hidden: 2304, ffn: 9216, layers: 26, heads: 8, kvHeads: 4, vocab: 256000, tied: true, headDim: 256 },
  internlm2: { hidden: 4096, ffn: 11008, layers: 32, heads: 32, vocab: 103168, tied: false },
};

export const DEFAULT_LLM_TOKENS = 2048;

/**
 * A decoder-only LLM (`LlamaForCausalLM` and its relatives) as a transformer module: GQA, gated FFN
 * (SwiGLU / GeGLU), RMSNorm, biases where the family has them, LM head tied or not, final norm.
 * Attention that is wider or narrower than `hidden` (`head_dim × heads ≠ hidden`, Gemma-7B, Gemma 2)
 * is corrected in the parameter count where it adds parameters and reported in `notes` where it removes them.
 */
export function llmModule(r: HfReader, type: LlmType, name: string, tokens: number | undefined, notes: string[]): ModuleSpec {
  const d = DEFAULTS[type];
  const { int, note } = r.withDefaults();
  const { hidden, ffn, layers, heads } = stackSizes(int, d);
  const kvHeads = r.int('num_key_value_heads', d.kvHeads ?? heads);
  const vocab = int('vocab_size', d.vocab);
  const tied = r.bool('tie_word_embeddings', d.tied);
  if (hidden % heads !== 0) r.fail('num_attention_heads', `${heads} heads do not divide hidden_size ${hidden}`);
  if (heads % kvHeads !== 0) r.fail('num_key_value_heads', `${kvHeads} key/value heads do not divide ${heads} attention heads`);
  const headDim = r.int('head_dim', d.headDim ?? hidden / heads);

  const biases: BiasSite[] = [];
  if (type === 'qwen2') biases.push('q', 'k', 'v');
  else if (type === 'internlm2') {
    if (r.bool('bias', true)) biases.push('q', 'k', 'v', 'o');
  } else if (r.bool('attention_bias', false)) biases.push('q', 'k', 'v', 'o');
  if (type === 'llama' && r.bool('mlp_bias', false)) biases.push('ffn');

  const extra: ExtraTensor[] = [{ name: 'final_norm', shape: [hidden] }];
  if (type === 'gemma2') extra.push({ name: 'per-layer post-attention and post-feedforward norms', shape: [layers, 2, hidden] });
  // The formula sizes q and o as hidden x hidden and k, v as hidden x (kvHeads x hidden/heads).
  const actual = 2 * hidden * heads * headDim + 2 * hidden * kvHeads * headDim;
  const formula = 2 * hidden * hidden + 2 * hidden * kvHeads * (hidden / heads);
  const diff = actual - formula;
  if (diff > 0) extra.push({ name: `attention projections beyond hidden x hidden (head_dim ${headDim} x ${heads} heads)`, shape: [layers, diff] });
  if (diff < 0) notes.push(`head_dim ${headDim} x ${heads} heads = ${headDim * heads} < hidden_size ${hidden}: the architecture formula counts ${(-diff * layers).toLocaleString('en-US')} attention parameters too many (${((-diff * layers) / 1e6).toFixed(1)}M) and sizes attention as hidden x hidden`);
  note(type, notes);
  const seq = tokens ?? DEFAULT_LLM_TOKENS;
  if (tokens === undefined) notes.push(`${name}: tokensPerSample ${DEFAULT_LLM_TOKENS} is a default (the training sequence length is not in config.json); pass --tokens`);

  const origin = r.origin();
  return {
    name,
    kind: 'llm',
    description: `${type} decoder${origin ? ` (${origin})` : ''}: ${layers} layers, hidden ${hidden}, FFN ${ffn} gated, ${heads} heads${kvHeads !== heads ? ` (${kvHeads} KV)` : ''}, vocabulary ${vocab}${tied ? ', LM head tied to the embedding' : ''}. Imported by mosaic import hf; outputElementsPerSample is the final hidden state.`,
    arch: {
      type: 'transformer',
      layers,
      hidden,
      ffn,
      heads,
      ...(kvHeads !== heads ? { kvHeads } : {}),
      ffnGated: true,
      biases,
      norm: 'rmsnorm',
      tokensPerSample: seq,
      causal: true,
      vocab,
      tiedEmbeddings: tied,
      extraTensors: extra,
    },
    trainable: true,
    inputs: [],
    outputElementsPerSample: seq * hidden,
    source: `${r.file}${r.pointer} (model_type ${type}${origin ? `, ${origin}` : ''}): hidden_size ${hidden}, intermediate_size ${ffn}, num_hidden_layers ${layers}, num_attention_heads ${heads}, num_key_value_heads ${kvHeads}, vocab_size ${vocab}, tie_word_embeddings ${tied}`,
  };
}
