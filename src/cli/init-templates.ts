/**
 * The templates of `mosaic init`: valid specs whose descriptions explain every required field and where
 * its value comes from. JSON has no comments, so the explanations are the `description` strings.
 */
import type { ClusterSpec, ModelSpec } from '../spec/types';

export function modelTemplate(schemaRef: string): ModelSpec & { $schema: string } {
  return {
    $schema: schemaRef,
    name: 'my-vlm',
    description:
      'Template from `mosaic init model`: a vision encoder (CLIP ViT-L/14 at 336 px) feeding a 7B LLaMA-2-shaped LLM, one image per sample. Edit every value to your run. ' +
      'Fields: name (letters, digits, . _ -); precision (bf16 | fp16 | fp32, the training compute type); optimizer.stateBytesPerParam (AdamW in mixed precision keeps fp32 master weights, m and v: 12 bytes per trainable parameter) and optimizer.zeroStage (0-3, how optimizer state, gradients and weights are sharded over a module\'s replicas); optional optimizer.gradientBucketMiB (gradients are all-reduced in buckets of this size while the last backward runs, as PyTorch DDP does: 25 by default, DDP\'s bucket_cap_mb; 0 for one all-reduce after the backward; larger pays fewer latencies when the links are the bottleneck); ' +
      'batch.global (samples per iteration) and batch.micro (samples per microbatch; global must be a multiple of it); activationCheckpointing (recompute activations in backward, keeping only block inputs); ' +
      'modules (the DAG: each module names the modules it consumes in inputs); sources (where the numbers come from: papers, config.json files). ' +
      'Per module: kind, arch (transformer: layers, hidden, ffn, heads, kvHeads, ffnGated, biases, norm, tokensPerSample, sequencesPerSample for frames/tiles/views attended separately, causal, vocab, tiedEmbeddings, extraTensors for embeddings and anything outside the blocks; or mlp: widths, bias, tokensPerSample; or explicit: params and FLOPs), trainable, outputElementsPerSample (elements sent to each consumer per sample: tokens x width), ' +
      'publishedParams (the model card\'s count and its source: the tests check the count computed from arch within 2%) and source (the config.json or paper the arch numbers come from). ' +
      '`mosaic import hf config.json` writes a module (or a whole model) from a Hugging Face config. A projector between encoder and LLM is a third module of kind projector (see datasets/models/llava-1.5-7b.json).',
    precision: 'bf16',
    optimizer: { name: 'AdamW', stateBytesPerParam: 12, zeroStage: 2 },
    batch: { global: 128, micro: 2 },
    activationCheckpointing: true,
    modules: [
      {
        name: 'vision',
        kind: 'vision-encoder',
        description: 'CLIP ViT-L/14 at 336 px: 24 pre-LN blocks of width 1024, 577 tokens (24x24 patches + CLS). Frozen (trainable false): forward only. outputElementsPerSample = 576 patch tokens x 1024.',
        arch: {
          type: 'transformer',
          layers: 24,
          hidden: 1024,
          ffn: 4096,
          heads: 16,
          ffnGated: false,
          biases: ['q', 'k', 'v', 'o', 'ffn'],
          norm: 'layernorm',
          tokensPerSample: 577,
          causal: false,
          extraTensors: [
            { name: 'patch_embedding (conv 14x14, no bias)', shape: [1024, 3, 14, 14] },
            { name: 'class_embedding', shape: [1024] },
            { name: 'position_embedding', shape: [577, 1024] },
            { name: 'pre_layrnorm and post_layernorm (weight+bias)', shape: [2, 2, 1024] },
          ],
        },
        trainable: false,
        inputs: [],
        outputElementsPerSample: 589824,
        publishedParams: { count: 304290000, source: 'OpenCLIP docs/model_profile.csv, ViT-L-14-336 image_mparams 304.29 (replace with your model card\'s count and where it is written)' },
        source: 'HF openai/clip-vit-large-patch14-336 config.json vision_config (hidden_size 1024, intermediate_size 4096, num_hidden_layers 24, num_attention_heads 16, patch_size 14, image_size 336)',
      },
      {
        name: 'llm',
        kind: 'llm',
        description: 'LLaMA-2-7B shapes: SwiGLU (ffnGated), RMSNorm, no biases, untied 32000-token head. tokensPerSample counts image and text tokens of one training sequence; inputs names the encoder whose output it reads. outputElementsPerSample is the final hidden state (no consumer).',
        arch: {
          type: 'transformer',
          layers: 32,
          hidden: 4096,
          ffn: 11008,
          heads: 32,
          ffnGated: true,
          biases: [],
          norm: 'rmsnorm',
          tokensPerSample: 2048,
          causal: true,
          vocab: 32000,
          tiedEmbeddings: false,
          extraTensors: [{ name: 'final_norm', shape: [4096] }],
        },
        trainable: true,
        inputs: ['vision'],
        outputElementsPerSample: 8388608,
        publishedParams: { count: 6740000000, source: 'Llama 2, Touvron et al., arXiv 2307.09288 (7B); HF meta-llama/Llama-2-7b-hf "6.74B params" (replace with your model card)' },
        source: 'HF meta-llama/Llama-2-7b-hf config.json (hidden_size 4096, intermediate_size 11008, num_hidden_layers 32, num_attention_heads 32, vocab_size 32000)',
      },
    ],
    sources: ['Radford et al., CLIP, arXiv 2103.00020', 'Touvron et al., Llama 2, arXiv 2307.09288', 'replace with the papers and config.json files your numbers come from'],
  };
}

export function clusterTemplate(schemaRef: string): ClusterSpec & { $schema: string } {
  return {
    $schema: schemaRef,
    name: 'my-cluster',
    description:
      'Template from `mosaic init cluster`: 1 node x 8 H100-SXM5-80GB with NVSwitch. Edit every value to your machines and say here where each number comes from. ' +
      'Fields: device (gpu, or cpu for the native CPU engine); nodes and gpusPerNode; gpu.name; gpu.smCount (streaming multiprocessors: H100 SXM5 132, A100 108; datasheet); ' +
      'gpu.smGranularity (the smallest SM partition a green context may have and the step between sizes: min 8 and step 8 on compute capability 9.0 such as H100, min 4 and step 2 on 8.x such as A100; CUDA Driver API, cuDevSmResourceSplitByCount); ' +
      'gpu.peakTflops (dense bf16 tensor-core peak: H100 SXM5 989, A100 312; datasheet); gpu.hbmGBps (HBM bandwidth: H100 SXM5 3350, A100 80 GB 2039; datasheet); gpu.memoryGiB (usable device memory); gpu.gemmTile (output tile edge of the GEMM kernels, 128 for cuBLAS/CUTLASS bf16); ' +
      'links.intraNodeGBps (per direction per GPU: NVLink 4 450, NVLink 3 300), links.interNodeGBps (per GPU NIC: 400 Gb/s NDR InfiniBand = 50), links.latencyUs (per message, about 5 us for NCCL small messages, an assumption). ' +
      'Check a cluster with `mosaic plan -m llava-1.5-7b -c my-cluster.json --method heuristic`.',
    device: 'gpu',
    nodes: 1,
    gpusPerNode: 8,
    gpu: { name: 'H100-SXM5-80GB', smCount: 132, smGranularity: { min: 8, step: 8 }, peakTflops: 989, hbmGBps: 3350, memoryGiB: 80, gemmTile: 128 },
    links: { intraNodeGBps: 450, interNodeGBps: 50, latencyUs: 5 },
  };
}
