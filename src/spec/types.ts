/**
 * Core domain types. Plain readonly data, validated by the JSON Schemas under `schemas/`.
 * Units are in the names (`Ms`, `Bytes`, `GiB`, `Fraction`) or stated in the TSDoc.
 */

export type Precision = 'bf16' | 'fp16' | 'fp32';

export type ModuleKind =
  | 'vision-encoder'
  | 'audio-encoder'
  | 'text-encoder'
  | 'modality-encoder'
  | 'projector'
  | 'llm'
  | 'unet'
  | 'vae-encoder'
  | 'decoder';

/** Which linear layers of a transformer block carry a bias vector. */
export type BiasSite = 'q' | 'k' | 'v' | 'o' | 'ffn';

/** A tensor counted by name and shape, for parameters outside the repeated blocks (embeddings, patch convs, heads). */
export type ExtraTensor = { readonly name: string; readonly shape: readonly number[] };

/** A stack of identical transformer blocks. Parameter count and FLOPs follow from these numbers. */
export type TransformerArch = {
  readonly type: 'transformer';
  readonly layers: number;
  readonly hidden: number;
  /** FFN inner width (per branch for gated FFNs). */
  readonly ffn: number;
  readonly heads: number;
  /** Key/value heads for grouped-query attention; defaults to `heads`. */
  readonly kvHeads?: number;
  /** SwiGLU-style FFN with gate and up projections (3 matrices instead of 2). */
  readonly ffnGated: boolean;
  /** Linear layers of each block that carry a bias (Whisper: q, v, o and ffn, not k). */
  readonly biases: readonly BiasSite[];
  readonly norm: 'layernorm' | 'rmsnorm';
  /** Tokens processed per sample, over all its sequences. */
  readonly tokensPerSample: number;
  /**
   * Independent attention sequences per sample (video frames, the images of a multi-image sample,
   * camera views), default 1: attention runs within each of `tokensPerSample / sequencesPerSample`
   * tokens, not over their concatenation. GEMMs still see all the tokens.
   */
  readonly sequencesPerSample?: number;
  /** Causal self-attention halves the attention FLOPs. */
  readonly causal: boolean;
  /** Vocabulary size for models with token embeddings and an LM head. */
  readonly vocab?: number;
  /** Whether the LM head shares the token embedding matrix. */
  readonly tiedEmbeddings?: boolean;
  readonly extraTensors?: readonly ExtraTensor[];
};

/** A stack of dense layers applied per token (projectors, adapters). */
export type MlpArch = {
  readonly type: 'mlp';
  /** Layer widths, input first: [1024, 4096, 4096] is two linear layers. */
  readonly widths: readonly number[];
  readonly bias: boolean;
  readonly tokensPerSample: number;
  readonly extraTensors?: readonly ExtraTensor[];
};

/** A module known only by its totals (e.g. a UNet whose blocks do not fit the shapes above). */
export type ExplicitArch = {
  readonly type: 'explicit';
  readonly params: number;
  /** Forward FLOPs for one sample. */
  readonly forwardFlopsPerSample: number;
  /** Activation bytes kept for backward, per sample, without checkpointing. */
  readonly activationBytesPerSample: number;
  /**
   * Representative GEMM shape per sample: rows (tokens or pixels) and output width, which fix how many
   * output tiles a microbatch offers and so where the module saturates the GPU.
   */
  readonly gemmRowsPerSample: number;
  readonly gemmCols: number;
};

export type ModuleArch = TransformerArch | MlpArch | ExplicitArch;

export type PublishedCount = { readonly count: number; readonly source: string };

export type ModuleSpec = {
  readonly name: string;
  readonly kind: ModuleKind;
  readonly description?: string;
  readonly arch: ModuleArch;
  readonly trainable: boolean;
  /** Names of the modules whose output this module consumes (the DAG edges). */
  readonly inputs: readonly string[];
  /** Elements (not bytes) of the activation this module sends to each consumer, per sample. */
  readonly outputElementsPerSample: number;
  /** Published parameter count that the count computed from `arch` must match within 2%. */
  readonly publishedParams?: PublishedCount;
  /** Where the architecture numbers come from. */
  readonly source: string;
};

export type ModelSpec = {
  readonly name: string;
  readonly description: string;
  readonly precision: Precision;
  readonly optimizer: {
    readonly name: string;
    /** Optimizer state bytes per trainable parameter (AdamW mixed precision: 4 master + 4 m + 4 v = 12). */
    readonly stateBytesPerParam: number;
    readonly zeroStage: 0 | 1 | 2 | 3;
  };
  readonly batch: { readonly global: number; readonly micro: number };
  /** Recompute activations in backward, keeping only block inputs. */
  readonly activationCheckpointing: boolean;
  readonly modules: readonly ModuleSpec[];
  readonly publishedTotalParams?: PublishedCount;
  readonly sources: readonly string[];
};

export type GpuSpec = {
  readonly name: string;
  readonly smCount: number;
  /** Smallest SM group a partition may have, and the step between sizes (Hopper: 8 and 8). */
  readonly smGranularity: { readonly min: number; readonly step: number };
  readonly peakTflops: number;
  readonly hbmGBps: number;
  readonly memoryGiB: number;
  /** Output tile edge of the GEMM kernels for GPUs whose physics row has no tile set (CPU, unknown GPUs). */
  readonly gemmTile: number;
  /** Which row of the physics table (src/perf/physics.ts) applies; default: from the name, else generic. */
  readonly architecture?: 'hopper' | 'ampere' | 'generic';
  /** Overrides of that row's constants, e.g. from `mosaic calibrate --sweep` on your own GPU. */
  readonly physics?: GpuPhysicsOverrides;
};

/** Any constant of a physics row (src/perf/physics.ts, GpuPhysics), and where the new figure comes from. */
export type GpuPhysicsOverrides = {
  readonly gemmEfficiencyAllSms?: number;
  readonly gemmEfficiencyFewSms?: number;
  readonly attentionEfficiency?: number;
  readonly attentionBackwardRatio?: number;
  readonly achievedBandwidthFraction?: number;
  readonly bandwidthSaturationFraction?: number;
  readonly hostGapUs?: number;
  readonly kernelOverheadUs?: number;
  readonly interferenceGamma?: number;
  readonly source?: string;
};

export type ClusterSpec = {
  readonly name: string;
  readonly description: string;
  readonly device: 'gpu' | 'cpu';
  readonly nodes: number;
  readonly gpusPerNode: number;
  readonly gpu: GpuSpec;
  readonly links: { readonly intraNodeGBps: number; readonly interNodeGBps: number; readonly latencyUs: number };
};

export type ProfileSample = {
  readonly module: string;
  readonly device: string;
  readonly quotaFraction: number;
  readonly micro: number;
  readonly forwardMs: number;
  readonly backwardMs: number;
  /** Modules running at the same time on the same device, if any. */
  readonly coRunning?: readonly { readonly module: string; readonly quotaFraction: number }[];
};

/**
 * The engine's own costs on a CPU device, measured by `mosaic profile`: a fixed cost per graph run
 * (one per training iteration), a cost per task on its context, and the latency of a dependency that
 * crosses contexts (the waiting context's executor has to be woken).
 */
export type EngineCosts = {
  readonly perGraphMs: number;
  readonly perTaskMs: number;
  readonly perHopMs: number;
};

export type Profile = {
  readonly model: string;
  readonly device: string;
  readonly samples: readonly ProfileSample[];
  readonly engine?: EngineCosts;
};
