/**
 * Module and model specs from Hugging Face `config.json` files (`mosaic import hf`).
 *
 * A plain config (one of {@link LLM_TYPES}, {@link VISION_TYPES}, `whisper`, or a CLIP/SigLIP dual-encoder
 * config whose `vision_config` is taken) becomes one module. A composite vision-language config (`llava`,
 * `paligemma`, `internvl_chat`) becomes a model: vision encoder, projector and LLM, with training settings
 * that are defaults to review. Parameter counts follow `src/spec/params.ts`; the tests compare them with
 * published numbers. What the config cannot say (sequence length, published counts) is reported in `notes`.
 */
import { parseModel } from '../load';
import { moduleParams } from '../params';
import type { ModelSpec, ModuleSpec } from '../types';
import { visionModule, VISION_TYPES, whisperEncoderModule, type VisionType } from './encoders';
import { llmModule, LLM_TYPES, type LlmType } from './llm';
import { HfReader } from './reader';

export { LLM_TYPES } from './llm';
export { VISION_TYPES } from './encoders';

/** Composite vision-language configs that become a whole model. */
export const COMPOSITE_TYPES = ['llava', 'paligemma', 'internvl_chat'] as const;
/** Every `model_type` that `mosaic import hf` reads. */
export const SUPPORTED_TYPES: readonly string[] = [...LLM_TYPES, ...VISION_TYPES, 'whisper', 'clip', 'siglip', ...COMPOSITE_TYPES];

export type ImportOptions = {
  /** Module name (single-module imports); default by kind: `llm`, `vision`, `audio`. */
  readonly moduleName?: string;
  /** Tokens per sample of the module, or of the LLM of a composite. */
  readonly tokens?: number;
};

export type ImportResult =
  | { readonly kind: 'module'; readonly modelType: string; readonly module: ModuleSpec; readonly params: number; readonly notes: readonly string[] }
  | { readonly kind: 'model'; readonly modelType: string; readonly model: ModelSpec; readonly params: readonly { readonly module: string; readonly count: number }[]; readonly notes: readonly string[] };

const isLlm = (t: string): t is LlmType => (LLM_TYPES as readonly string[]).includes(t);
const isVision = (t: string): t is VisionType => (VISION_TYPES as readonly string[]).includes(t);

function unsupported(r: HfReader, key: string, type: string | undefined, allowed: readonly string[]): never {
  return r.fail(key, `${type === undefined ? 'missing' : `"${type}" is not supported`}; mosaic import hf reads model_type ${allowed.join(', ')}`);
}

/** Wraps one module in a minimal model so that the schema and the semantic checks see it. */
function checkModule(module: ModuleSpec, file: string): void {
  parseModel({ name: 'imported', description: 'check', precision: 'bf16', optimizer: { name: 'AdamW', stateBytesPerParam: 12, zeroStage: 2 }, batch: { global: 8, micro: 1 }, activationCheckpointing: true, modules: [module], sources: [file] }, `${file} (imported module)`);
}

export function importHfConfig(data: unknown, file: string, options: ImportOptions = {}): ImportResult {
  const root = HfReader.root(file, data);
  const type = root.str('model_type');
  const notes: string[] = [];
  if (type === undefined) unsupported(root, 'model_type', undefined, SUPPORTED_TYPES);
  if ((COMPOSITE_TYPES as readonly string[]).includes(type)) return importComposite(root, type, options, notes);

  let module: ModuleSpec;
  if (isLlm(type)) module = llmModule(root, type, options.moduleName ?? 'llm', options.tokens, notes);
  else if (isVision(type)) module = visionModule(root, type, options.moduleName ?? 'vision', options.tokens, notes).module;
  else if (type === 'whisper') module = whisperEncoderModule(root, options.moduleName ?? 'audio', options.tokens, notes);
  else if (type === 'clip' || type === 'siglip') {
    const vision = root.child('vision_config') ?? root.fail('vision_config', `required for a ${type} config (the image tower is imported)`);
    notes.push(`the ${type} text tower is left out; the image tower (/vision_config) is the module`);
    module = visionModule(vision, type === 'clip' ? 'clip_vision_model' : 'siglip_vision_model', options.moduleName ?? 'vision', options.tokens, notes).module;
  } else unsupported(root, 'model_type', type, SUPPORTED_TYPES);
  checkModule(module, file);
  notes.push(`add "publishedParams": {"count": ..., "source": "..."} from the model card so that the count is checked`);
  return { kind: 'module', modelType: type, module, params: moduleParams(module.arch), notes };
}

function importComposite(root: HfReader, type: string, options: ImportOptions, notes: string[]): ImportResult {
  const vision = root.child('vision_config') ?? root.fail('vision_config', `required for a ${type} config`);
  const textKey = type === 'internvl_chat' ? 'llm_config' : 'text_config';
  const text = root.child(textKey) ?? root.fail(textKey, `required for a ${type} config`);
  const visionDefault: VisionType = type === 'llava' ? 'clip_vision_model' : type === 'paligemma' ? 'siglip_vision_model' : 'intern_vit_6b';
  const textDefault: LlmType = type === 'paligemma' ? 'gemma' : type === 'llava' ? 'llama' : 'internlm2';
  const vType = vision.str('model_type', visionDefault)!;
  const tType = text.str('model_type', textDefault)!;
  if (!isVision(vType)) unsupported(vision, 'model_type', vType, VISION_TYPES);
  if (!isLlm(tType)) unsupported(text, 'model_type', tType, LLM_TYPES);

  const imageSize = type === 'internvl_chat' && root.has('force_image_size') ? root.int('force_image_size') : undefined;
  const v = visionModule(vision, vType, 'vision', undefined, notes, imageSize);
  const llm = llmModule(text, tType, 'llm', options.tokens, notes);
  const th = llm.arch.type === 'transformer' ? llm.arch.hidden : 0;
  const { patches, hidden: vh } = v.shape;

  let projector: ModuleSpec;
  let visionOut: number;
  if (type === 'llava') {
    // LLaVA-1.5 mlp2x_gelu on the patch features (CLS dropped, vision_feature_select_strategy "default").
    const act = root.str('projector_hidden_act', 'gelu');
    projector = {
      name: 'projector', kind: 'projector',
      description: `multi_modal_projector: Linear(${vh}, ${th}) -> ${act} -> Linear(${th}, ${th}) per visual token`,
      arch: { type: 'mlp', widths: [vh, th, th], bias: root.bool('multimodal_projector_bias', true), tokensPerSample: patches },
      trainable: true, inputs: ['vision'], outputElementsPerSample: patches * th,
      source: `${root.file} (model_type llava): LlavaMultiModalProjector, vision hidden ${vh}, text hidden ${th}`,
    };
    visionOut = patches * vh;
  } else if (type === 'paligemma') {
    const proj = vision.int('projection_dim', th);
    projector = {
      name: 'projector', kind: 'projector',
      description: `multi_modal_projector: Linear(${vh}, ${proj}) per image token`,
      arch: { type: 'mlp', widths: [vh, proj], bias: true, tokensPerSample: patches },
      trainable: true, inputs: ['vision'], outputElementsPerSample: patches * proj,
      source: `${root.file} (model_type paligemma): PaliGemmaMultiModalProjector, projection_dim ${proj}`,
    };
    visionOut = patches * vh;
  } else {
    // InternVL: CLS dropped, pixel shuffle by downsample_ratio, then mlp1 = LayerNorm, Linear, GELU, Linear.
    const ratio = root.num('downsample_ratio', 0.5);
    const step = Math.round(1 / ratio);
    const side = Math.round(Math.sqrt(patches));
    if (Math.abs(step * ratio - 1) > 1e-9 || side % step !== 0) root.fail('downsample_ratio', `${ratio} does not shuffle a ${side}x${side} patch grid evenly`);
    const merge = step * step;
    const width = vh * merge;
    const tokens = patches / merge;
    projector = {
      name: 'projector', kind: 'projector',
      description: `mlp1: LayerNorm(${width}) -> Linear(${width}, ${th}) -> GELU -> Linear(${th}, ${th}) after pixel shuffle (downsample_ratio ${ratio})`,
      arch: { type: 'mlp', widths: [width, th, th], bias: true, tokensPerSample: tokens, extraTensors: [{ name: `mlp1.0 LayerNorm(${width}) weight+bias`, shape: [2, width] }] },
      trainable: true, inputs: ['vision'], outputElementsPerSample: tokens * th,
      source: `${root.file} (model_type internvl_chat): mlp1 after pixel shuffle, downsample_ratio ${ratio}`,
    };
    visionOut = patches * vh;
  }
  const llmTokens = llm.arch.type === 'transformer' ? llm.arch.tokensPerSample : 0;
  if (projector.arch.type === 'mlp' && llmTokens < projector.arch.tokensPerSample) {
    notes.push(`llm: ${llmTokens} tokens per sample is fewer than the ${projector.arch.tokensPerSample} visual tokens; pass a larger --tokens`);
  }
  const name = (root.origin()?.split('/').pop() ?? type).replace(/[^A-Za-z0-9._-]/g, '-') || type;
  const model: ModelSpec = {
    name,
    description: `${type} model imported by mosaic import hf from ${root.file}. One image per sample. Training settings (precision bf16, AdamW with 12 bytes of state per parameter, ZeRO-2, global batch 128 in micro-batches of 2, activation checkpointing) are defaults: set them to your run. Add publishedParams (count and source) to each module and publishedTotalParams from the model card so that the counts are checked.`,
    precision: 'bf16',
    optimizer: { name: 'AdamW', stateBytesPerParam: 12, zeroStage: 2 },
    batch: { global: 128, micro: 2 },
    activationCheckpointing: true,
    modules: [{ ...v.module, outputElementsPerSample: visionOut }, projector, { ...llm, inputs: ['projector'] }],
    sources: [`${root.file} (Hugging Face config.json, model_type ${type}${root.origin() ? `, ${root.origin()}` : ''})`],
  };
  parseModel(model, `${root.file} (imported model)`);
  return { kind: 'model', modelType: type, model, params: model.modules.map((m) => ({ module: m.name, count: moduleParams(m.arch) })), notes };
}
