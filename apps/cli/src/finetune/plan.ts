// `peft plan`: sizes of a fine-tuning run from a model's config.json alone (no weights read): parameter
// counts, bytes of the base in each storage format, trainable parameters and adapter bytes for a PEFT
// config, and an estimate of training memory in this runtime.
import {
  type AdapterConfig,
  getPeftMethod,
  matchTargetModules,
  type TargetCandidate,
} from '@peft/adapter-bridge';
import { ConfigError } from '@peft/core';
import { type LoraConfig, rankAndAlpha } from '@peft/lora';
import { checkpointLayout, type LinearSpec, type LlamaConfig } from '@peft/models';
import type { VeraConfig } from '@peft/vera';

/** The output head; it stays in float precision when quantizing and "all-linear" leaves it alone. */
const OUTPUT_HEAD = 'lm_head';

/** A linear layer with its path and logical shape, as the plan sees it. */
interface PlanLinear {
  readonly path: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly bias: boolean;
}

/** Every linear layer of the model tree, the tied head included (the tree has an `lm_head` either way). */
function linearsOf(config: LlamaConfig): PlanLinear[] {
  const linears: PlanLinear[] = checkpointLayout(config).linears.map((l: LinearSpec) => ({ ...l }));
  if (!linears.some((l) => l.path === OUTPUT_HEAD)) {
    linears.push({
      path: OUTPUT_HEAD,
      inFeatures: config.hiddenSize,
      outFeatures: config.vocabSize,
      bias: false,
    });
  }
  return linears;
}

/**
 * The module paths of a `LlamaForCausalLM` built from `config`, derived from its checkpoint layout:
 * every linear layer and tensor owner, and every module above them. Target matching runs over these,
 * with PEFT's rules, exactly as it runs over the loaded model.
 */
export function moduleCandidates(config: LlamaConfig): TargetCandidate[] {
  const linear = new Set(linearsOf(config).map((l) => l.path));
  const owners = checkpointLayout(config).tensors.map((t) => t.name.slice(0, t.name.lastIndexOf('.')));
  const paths = new Set<string>();
  for (const owner of [...owners, ...linear]) {
    const parts = owner.split('.');
    for (let i = 1; i <= parts.length; i++) paths.add(parts.slice(0, i).join('.'));
  }
  return [...paths].map((path) => ({ path, linear: linear.has(path) }));
}

/**
 * Bytes of one 4-bit weight of `n` values: packed nibbles, absmax (float32, or 8-bit codes with a
 * float32 scale per 256 codes and a 256-entry code table under double quantization), and the 16-entry
 * code table. On disk (bitsandbytes' tensors) or in memory (`Bnb4Linear`, whose byte arrays are held as
 * int32 words, so each is padded to a multiple of 4).
 */
export function bnb4WeightBytes(n: number, blocksize: number, doubleQuant: boolean, held = false): number {
  const words = (bytes: number) => (held ? Math.ceil(bytes / 4) * 4 : bytes);
  const blocks = Math.ceil(n / blocksize);
  const quantMap = 16 * 4;
  const packed = words(Math.ceil(n / 2));
  if (!doubleQuant) return packed + blocks * 4 + quantMap;
  return packed + words(blocks) + Math.ceil(blocks / 256) * 4 + 256 * 4 + quantMap;
}

export interface PlanOptions {
  /** The adapter config (e.g. from `adapterConfigFromOptions` or an adapter_config.json). */
  adapter: AdapterConfig;
  /** For the memory estimate (default 1). */
  batchSize?: number;
  /** For the memory estimate (default min(512, max positions)). */
  seqLen?: number;
  /** The base storage the memory estimate assumes (default: nf4 for a bitsandbytes config, else none). */
  quantize?: 'none' | 'nf4' | 'fp4';
  blocksize?: number;
  doubleQuant?: boolean;
}

export interface PlanReport {
  model: {
    model_type: string;
    hidden_size: number;
    intermediate_size: number;
    num_hidden_layers: number;
    num_attention_heads: number;
    num_key_value_heads: number;
    vocab_size: number;
    tie_word_embeddings: boolean;
    linear_layers: number;
  };
  /** Every parameter of the base model (a tied head counted once), as transformers counts them. */
  parameters: number;
  /** Bytes of the base weights as stored in each format. */
  base_bytes: {
    fp32: number;
    fp16: number;
    /** Linear layers but the head in NF4 (absmax float32), everything else float16. */
    nf4: number;
    /** The same with double quantization (8-bit absmax), as QLoRA stores it. */
    nf4_double_quant: number;
  };
  adapter: {
    peft_type: string;
    r: number;
    /** `target_modules` as the saved adapter config will hold it. */
    target_modules: string[] | string;
    targeted_layers: number;
    /** Elements an optimizer updates. */
    trainable_params: number;
    /** Percentage of `parameters + trainable_params`, as PEFT's summary prints it. */
    trainable_percent: number;
    /** Tensor data in adapter_model.safetensors (float32; VeRA's projections included when saved). */
    adapter_bytes: number;
  };
  trainable_params: number;
  /** An estimate of the memory a training run here holds, in bytes (TensorFlow.js keeps floats in float32). */
  training_memory: {
    quantize: 'none' | 'nf4' | 'fp4';
    batch_size: number;
    seq_len: number;
    /** Base weights as held in memory: float32 dense layers, or 4-bit layers plus float32 embeddings, norms and head. */
    base: number;
    /** Trainable tensors, their gradients and AdamW's two moments (4 x 4 bytes per parameter). */
    adapter_and_optimizer: number;
    /** Frozen buffers of the method (VeRA's shared vera_A / vera_B). */
    method_buffers: number;
    /** Activations kept for the backward pass and the logits with their gradient (estimate). */
    activations: number;
    total: number;
  };
}

/** Trainable parameters of one adapted layer, and the method's frozen buffers, by method. */
function methodSizes(
  adapter: AdapterConfig,
  targets: readonly PlanLinear[],
): { trainable: number; saved: number; buffers: number; r: number } {
  const biasOf = (l: PlanLinear) => (adapter.bias !== 'none' && l.bias ? l.outFeatures : 0);
  if (adapter.peft_type === 'VERA') {
    const vera = adapter as VeraConfig;
    // Per layer: vera_lambda_b (out) and vera_lambda_d (r); vera_A [r, max in] and vera_B [max out, r] are shared.
    const trainable = targets.reduce((n, l) => n + l.outFeatures + vera.r + biasOf(l), 0);
    const maxIn = Math.max(...targets.map((l) => l.inFeatures));
    const maxOut = Math.max(...targets.map((l) => l.outFeatures));
    const projections = vera.r * (maxIn + maxOut);
    return {
      trainable,
      saved: trainable + (vera.save_projection ? projections : 0),
      buffers: projections,
      r: vera.r,
    };
  }
  if (adapter.peft_type === 'LORA') {
    const lora = adapter as LoraConfig;
    // Per layer: lora_A [r, in] and lora_B [out, r], r from rank_pattern where it matches.
    const trainable = targets.reduce(
      (n, l) => n + rankAndAlpha(lora, l.path).r * (l.inFeatures + l.outFeatures) + biasOf(l),
      0,
    );
    return { trainable, saved: trainable, buffers: 0, r: lora.r };
  }
  throw new ConfigError(
    `peft plan knows the parameter counts of VERA and LORA adapters, not ${adapter.peft_type}`,
  );
}

function baseParameters(
  config: LlamaConfig,
  linears: readonly PlanLinear[],
): { total: number; linearWeights: Map<string, number> } {
  const linearWeights = new Map<string, number>();
  let total = 0;
  for (const l of linears) {
    const shared = config.tieWordEmbeddings && l.path === OUTPUT_HEAD;
    if (!shared) total += l.inFeatures * l.outFeatures + (l.bias ? l.outFeatures : 0);
    linearWeights.set(l.path, l.inFeatures * l.outFeatures);
  }
  for (const t of checkpointLayout(config).tensors) total += t.shape.reduce((a, b) => a * b, 1);
  return { total, linearWeights };
}

function defaultQuantize(config: LlamaConfig): 'none' | 'nf4' | 'fp4' {
  const q = config.raw['quantization_config'] as Record<string, unknown> | undefined;
  if (q?.['quant_method'] !== 'bitsandbytes' || q['load_in_4bit'] !== true) return 'none';
  return q['bnb_4bit_quant_type'] === 'fp4' ? 'fp4' : 'nf4';
}

/** Sizes of a fine-tuning run for `config` and an adapter config, without loading any weight. */
export function planFineTuning(config: LlamaConfig, options: PlanOptions): PlanReport {
  const linears = linearsOf(config);
  const method = getPeftMethod(options.adapter.peft_type);
  const resolved = matchTargetModules(moduleCandidates(config), options.adapter, {
    outputHead: OUTPUT_HEAD,
    modelType: config.modelType,
    ...(method.defaultTargetModules ? { defaults: method.defaultTargetModules } : {}),
    methodName: method.packageName,
  });
  const byPath = new Map(linears.map((l) => [l.path, l]));
  const targets = resolved.paths.map((p) => byPath.get(p)!);
  const sizes = methodSizes(options.adapter, targets);
  const saveCopies = options.adapter.modules_to_save
    ? linears.filter((l) => options.adapter.modules_to_save!.some((m) => l.path.endsWith(m)))
    : [];
  const savedCopyParams = saveCopies.reduce(
    (n, l) => n + l.inFeatures * l.outFeatures + (l.bias ? l.outFeatures : 0),
    0,
  );
  const trainable = sizes.trainable + savedCopyParams;

  const { total, linearWeights } = baseParameters(config, linears);
  const quantizable = linears.filter((l) => l.path !== OUTPUT_HEAD);
  const quantizedWeights = quantizable.reduce((n, l) => n + linearWeights.get(l.path)!, 0);
  const bnbBytes = (dq: boolean, blocksize = 64, held = false) =>
    quantizable.reduce((n, l) => n + bnb4WeightBytes(linearWeights.get(l.path)!, blocksize, dq, held), 0);
  const rest = total - quantizedWeights;

  const quantize = options.quantize ?? defaultQuantize(config);
  const batch = options.batchSize ?? 1;
  const seqLen = options.seqLen ?? Math.min(512, config.maxPositionEmbeddings);
  const blocksize = options.blocksize ?? 64;
  const doubleQuant = options.doubleQuant ?? true;
  // The loader keeps a tied head as its own transposed float32 copy of the embedding.
  const tiedCopy = config.tieWordEmbeddings ? config.vocabSize * config.hiddenSize * 4 : 0;
  const heldBase =
    quantize === 'none' ? total * 4 + tiedCopy : bnbBytes(doubleQuant, blocksize, true) + rest * 4 + tiedCopy;
  const {
    hiddenSize: h,
    intermediateSize: i,
    numAttentionHeads: heads,
    numHiddenLayers: layers,
    vocabSize: v,
  } = config;
  // Per token and layer: norms, q/k/v/o and their rotary copies, attention scores and probabilities,
  // the SwiGLU branch; then logits, their softmax and gradient.
  const activations = 4 * batch * seqLen * (layers * (10 * h + 4 * i + 2 * heads * seqLen) + 3 * v);
  const adapterAndOptimizer = 16 * trainable;
  const buffers = 4 * sizes.buffers;

  return {
    model: {
      model_type: config.modelType,
      hidden_size: h,
      intermediate_size: i,
      num_hidden_layers: layers,
      num_attention_heads: heads,
      num_key_value_heads: config.numKeyValueHeads,
      vocab_size: v,
      tie_word_embeddings: config.tieWordEmbeddings,
      linear_layers: linears.length,
    },
    parameters: total,
    base_bytes: {
      fp32: total * 4,
      fp16: total * 2,
      nf4: bnbBytes(false) + rest * 2,
      nf4_double_quant: bnbBytes(true) + rest * 2,
    },
    adapter: {
      peft_type: options.adapter.peft_type,
      r: sizes.r,
      target_modules: resolved.targetModules,
      targeted_layers: targets.length,
      trainable_params: trainable,
      trainable_percent: (100 * trainable) / (total + trainable),
      adapter_bytes: 4 * (sizes.saved + savedCopyParams),
    },
    trainable_params: trainable,
    training_memory: {
      quantize,
      batch_size: batch,
      seq_len: seqLen,
      base: heldBase,
      adapter_and_optimizer: adapterAndOptimizer,
      method_buffers: buffers,
      activations,
      total: heldBase + adapterAndOptimizer + buffers + activations,
    },
  };
}
