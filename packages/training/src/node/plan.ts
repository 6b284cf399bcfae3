// Sizes of a fine-tuning run from a model's config.json alone (no weights read): parameter counts, bytes of
// the base in each registered storage format, trainable parameters and adapter bytes for a PEFT config (from
// the method's own contract), and an estimate of training memory in this runtime.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type AdapterConfig,
  getPeftMethod,
  matchTargetModules,
  type TargetCandidate,
} from '@peft/adapter-bridge';
import { ConfigError, getQuantizer, type Quantizer, registeredQuantizers } from '@peft/core';
import { checkpointLayout, type LinearSpec, type LlamaConfig, parseLlamaConfig } from '@peft/models';
import { type MethodOptions, resolveAdapterConfig } from './finetune.js';
import { givenQuantizeOptions, type QuantizeOptions } from './model-folder.js';

/** The output head; it stays in float precision when quantizing and "all-linear" leaves it alone. */
const OUTPUT_HEAD = 'lm_head';

/** A linear layer with its path and logical shape, as the plan sees it. */
export interface PlanLinear {
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
 * The module paths of a `LlamaForCausalLM` built from `config`, derived from its checkpoint layout: every
 * linear layer and tensor owner, and every module above them. Target matching runs over these, with PEFT's
 * rules, exactly as it runs over the loaded model.
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

export interface PlanOptions {
  /** The adapter config (e.g. from `adapterConfigFromOptions` or an adapter_config.json). */
  adapter: AdapterConfig;
  /** For the memory estimate (default 1). */
  batchSize?: number;
  /** For the memory estimate (default min(512, max positions)). */
  seqLen?: number;
  /** The base storage the memory estimate assumes: a registered quantizer or "none" (default: the folder's own format). */
  quantize?: string;
  /** The quantizer's options (unset ones take its defaults). */
  quantizeOptions?: Readonly<Record<string, unknown>>;
  /** Activation checkpointing per decoder layer, as `finetune({ gradientCheckpointing })` (default false). */
  gradientCheckpointing?: boolean;
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
  /** Bytes of the base weights as stored on disk. */
  base_bytes: {
    fp32: number;
    fp16: number;
    /** Per registered quantizer (its default options): linear layers but the head quantized, the rest float16. */
    quantized: Record<string, number>;
  };
  adapter: {
    peft_type: string;
    r: number | null;
    /** `target_modules` as the saved adapter config will hold it. */
    target_modules: string[] | string;
    targeted_layers: number;
    /** Elements an optimizer updates. */
    trainable_params: number;
    /** Percentage of `parameters + trainable_params`, as PEFT's summary prints it. */
    trainable_percent: number;
    /** Tensor data in adapter_model.safetensors (float32). */
    adapter_bytes: number;
  };
  trainable_params: number;
  /**
   * An estimate of the memory a training run on the wasm backend holds, in bytes (TensorFlow.js keeps floats
   * in float32). `total` estimates the process's peak resident set size; `wasm_heap` the part of it inside
   * TensorFlow.js' wasm heap, which cannot pass 4 GiB.
   */
  training_memory: {
    quantize: string;
    batch_size: number;
    seq_len: number;
    gradient_checkpointing: boolean;
    /** Base weights as held in memory: float32 dense layers, or quantized layers plus float32 embeddings, norms and head. */
    base: number;
    /**
     * XNNPACK's packed copies of float32 weights (each cached for as long as its weight lives). Always 0 now: on
     * wasm, @peft/backends' dense kernels take every training product with a weight and keep no copy; the field
     * stays so that plans read the same.
     */
    packed_weights: number;
    /** Trainable tensors, their gradients and AdamW's two moments (4 x 4 bytes per parameter). */
    adapter_and_optimizer: number;
    /** Frozen buffers of the method (VeRA's shared vera_A / vera_B). */
    method_buffers: number;
    /**
     * Peak of the activations and their gradients in a step (TensorFlow.js keeps each activation's gradient
     * until the backward pass ends): every layer's with no checkpointing, else every layer's input and one
     * layer recomputed; plus the chunked loss's logits.
     */
    activations: number;
    /** The wasm heap at its peak: the above, with the allocator's growth steps and fragmentation. */
    wasm_heap: number;
    /** Outside the heap: Node.js and the wasm code, and the 4-bit kernel threads' copies of the packed weights. */
    outside_heap: number;
    /** The largest single tensor a step makes (a wasm heap cannot hold one past 4 GiB). */
    largest_tensor: number;
    largest_tensor_name: string;
    /** Estimated peak resident set size: wasm_heap + outside_heap. */
    total: number;
  };
}

function baseParameters(config: LlamaConfig, linears: readonly PlanLinear[]): number {
  let total = 0;
  for (const l of linears) {
    const shared = config.tieWordEmbeddings && l.path === OUTPUT_HEAD;
    if (!shared) total += l.inFeatures * l.outFeatures + (l.bias ? l.outFeatures : 0);
  }
  for (const t of checkpointLayout(config).tensors) total += t.shape.reduce((a, b) => a * b, 1);
  return total;
}

/** The quantizer a folder's config.json records (a bitsandbytes 4-bit folder: nf4 or fp4), else "none". */
function folderQuantize(config: LlamaConfig): string {
  const q = config.raw['quantization_config'] as Record<string, unknown> | undefined;
  if (q?.['quant_method'] !== 'bitsandbytes' || q['load_in_4bit'] !== true) return 'none';
  return q['bnb_4bit_quant_type'] === 'fp4' ? 'fp4' : 'nf4';
}

function methodParameterCounts(
  adapter: AdapterConfig,
  targets: readonly PlanLinear[],
): { trainable: number; saved: number; frozenBuffers: number } {
  const method = getPeftMethod(adapter.peft_type);
  if (!('training' in method) || !method.training) {
    throw new ConfigError(
      `${adapter.peft_type} (${method.packageName}) implements method contract ${method.specificationVersion}, ` +
        'which gives no parameter counts; upgrade it to contract v2 (name and training) to plan runs with it',
    );
  }
  return method.training.parameterCounts(adapter, targets);
}

/** The wasm heap over the bytes it holds at its peak: emscripten grows it in steps, and frees leave holes. */
const HEAP_OVERHEAD = 1.15;
/** Node.js, V8 and the compiled wasm modules: the resident size of a run before it loads anything. */
const RUNTIME_BYTES = 160 * 2 ** 20;
/** The 4-bit kernel threads keep their own copy of most rows of each packed weight (60% on two threads). */
const KERNEL_MIRROR_SHARE = 0.6;
/** The chunked loss keeps a chunk's logits near this size (models' DEFAULT_LOSS_CHUNK_BYTES). */
const LOSS_CHUNK_BYTES = 64 * 2 ** 20;
/** The share of a layer's activations (as counted in activationBytes) its forward pass keeps for the backward pass. */
const SAVED_SHARE = 0.5;

interface ActivationEstimate {
  peak: number;
  largest: number;
  largestName: string;
}

/**
 * Activation bytes of one step at its peak. Per token and layer a decoder layer's forward pass saves its two
 * norms' steps, q/k/v/o with their rotary and head-layout copies (about 24 x hidden together), the SwiGLU branch
 * (6 x intermediate), and the attention scores through masking and softmax (4 x heads x seq_len); each adapted
 * layer its intermediates (3 x (r + out)). About half of that stays alive for the backward pass (SAVED_SHARE): a
 * saved tensor shares its buffer, sums and reshapes keep nothing (core's frugal ops), and the backward pass frees
 * each saved tensor and each gradient once it is past them (frugalGradients), so gradients add little. With
 * checkpointing only each layer's input stays, and one layer is rebuilt at a time. The loss holds up to three of a
 * chunk's [tokens, vocab] steps at once. Checked against measured runs (plan.spec.ts).
 */
function activationBytes(
  config: LlamaConfig,
  targets: readonly PlanLinear[],
  adapter: AdapterConfig,
  batch: number,
  seqLen: number,
  checkpointing: boolean,
): ActivationEstimate {
  const { hiddenSize: h, intermediateSize: i, numAttentionHeads: heads, numHiddenLayers: layers } = config;
  const tokens = batch * seqLen;
  const r = (adapter as { r?: unknown }).r;
  const rank = typeof r === 'number' ? r : 8;
  const adapted = targets.filter((t) => t.path !== OUTPUT_HEAD);
  const adapterPerToken = adapted.reduce((n, t) => n + 3 * (rank + t.outFeatures), 0) / Math.max(1, layers);
  const scores = 4 * batch * heads * seqLen * seqLen;
  const perLayer = 4 * tokens * (24 * h + 6 * i + adapterPerToken) + 4 * scores;
  const layerInputs = 4 * tokens * h * layers;
  const chunk = Math.min(LOSS_CHUNK_BYTES, 4 * tokens * config.vocabSize);
  const loss = 3 * chunk;
  const saved = SAVED_SHARE * perLayer;
  const peak = checkpointing ? layerInputs + saved + loss : layers * saved + loss;
  const candidates: [string, number][] = [
    ['attention scores', scores],
    ['embedding table', 4 * config.vocabSize * h],
    ['loss chunk logits', chunk],
    ['MLP activation', 4 * tokens * i],
  ];
  const [largestName, largest] = candidates.reduce((a, b) => (b[1] > a[1] ? b : a));
  return { peak, largest, largestName };
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
  const sizes = methodParameterCounts(options.adapter, targets);
  const saveCopies = options.adapter.modules_to_save
    ? linears.filter((l) => options.adapter.modules_to_save!.some((m) => l.path.endsWith(m)))
    : [];
  const savedCopyParams = saveCopies.reduce(
    (n, l) => n + l.inFeatures * l.outFeatures + (l.bias ? l.outFeatures : 0),
    0,
  );
  const trainable = sizes.trainable + savedCopyParams;

  const total = baseParameters(config, linears);
  const quantizable = linears.filter((l) => l.path !== OUTPUT_HEAD);
  const quantizedWeights = quantizable.reduce((n, l) => n + l.inFeatures * l.outFeatures, 0);
  const rest = total - quantizedWeights;
  const quantizedBytes = (q: Quantizer, resolvedOptions: Readonly<Record<string, unknown>>, held: boolean) =>
    quantizable.reduce((n, l) => {
      const bytes = q.storageBytes(l.outFeatures, l.inFeatures, resolvedOptions);
      return n + (held ? bytes.memory : bytes.disk);
    }, 0);
  const quantized: Record<string, number> = {};
  for (const q of registeredQuantizers())
    quantized[q.name] = quantizedBytes(q, q.resolveOptions({}), false) + rest * 2;

  const quantize = options.quantize ?? folderQuantize(config);
  const batch = options.batchSize ?? 1;
  const seqLen = options.seqLen ?? Math.min(512, config.maxPositionEmbeddings);
  const checkpointing = options.gradientCheckpointing ?? false;
  // A tied head reads the embedding table itself (no copy); an untied one is a float32 linear layer of its own.
  let heldBase = total * 4;
  let quantizedHeld = 0;
  if (quantize !== 'none') {
    const q = getQuantizer(quantize);
    quantizedHeld = quantizedBytes(q, q.resolveOptions(options.quantizeOptions ?? {}), true);
    heldBase = quantizedHeld + rest * 4;
  }
  // No XNNPACK packed copies: the training products with a weight (at least 4 rows) run on @peft/backends' dense
  // kernels, which read the weight as stored (a float32 SmolLM2-135M run at 1 x 64 measured 422 MB less with them).
  const packedWeights = 0;
  const activations = activationBytes(config, targets, options.adapter, batch, seqLen, checkpointing);
  const adapterAndOptimizer = 16 * trainable;
  const buffers = 4 * sizes.frozenBuffers;
  const inHeap = heldBase + packedWeights + adapterAndOptimizer + buffers + activations.peak;
  const wasmHeap = Math.round(inHeap * HEAP_OVERHEAD);
  const outsideHeap = RUNTIME_BYTES + Math.round(KERNEL_MIRROR_SHARE * quantizedHeld);
  const r = (options.adapter as { r?: unknown }).r;

  return {
    model: {
      model_type: config.modelType,
      hidden_size: config.hiddenSize,
      intermediate_size: config.intermediateSize,
      num_hidden_layers: config.numHiddenLayers,
      num_attention_heads: config.numAttentionHeads,
      num_key_value_heads: config.numKeyValueHeads,
      vocab_size: config.vocabSize,
      tie_word_embeddings: config.tieWordEmbeddings,
      linear_layers: linears.length,
    },
    parameters: total,
    base_bytes: { fp32: total * 4, fp16: total * 2, quantized },
    adapter: {
      peft_type: options.adapter.peft_type,
      r: typeof r === 'number' ? r : null,
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
      gradient_checkpointing: checkpointing,
      base: heldBase,
      packed_weights: packedWeights,
      adapter_and_optimizer: adapterAndOptimizer,
      method_buffers: buffers,
      activations: activations.peak,
      wasm_heap: wasmHeap,
      outside_heap: outsideHeap,
      largest_tensor: activations.largest,
      largest_tensor_name: activations.largestName,
      total: wasmHeap + outsideHeap,
    },
  };
}

/** Reads config.json from a model folder, or the given config file itself. */
export async function readModelConfig(path: string): Promise<{ config: LlamaConfig; file: string }> {
  const info = await stat(path).catch(() => null);
  if (!info) throw new ConfigError(`${path} does not exist; give a model folder or its config.json`);
  const file = info.isDirectory() ? join(path, 'config.json') : path;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(
      `${file} cannot be read (${(cause as Error).message}); give a model folder or its config.json`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`${file}: not valid JSON (${(cause as Error).message})`);
  }
  return { config: parseLlamaConfig(json, file), file };
}

export interface PlanFolderOptions extends MethodOptions, QuantizeOptions {
  /** A model folder or its config.json (no weights are read). */
  model: string;
  /** Take the adapter from a PEFT adapter_config.json (a path) or a config object, instead of the method options. */
  adapterConfig?: string | AdapterConfig;
  batchSize?: number;
  seqLen?: number;
  gradientCheckpointing?: boolean;
}

/** `planFineTuning` for a model folder (or config.json) and method options, as `peft plan` takes them. */
export async function plan(options: PlanFolderOptions): Promise<PlanReport & { config_file: string }> {
  const adapter = await resolveAdapterConfig(options);
  const { config, file } = await readModelConfig(options.model);
  const report = planFineTuning(config, {
    adapter,
    ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
    ...(options.seqLen === undefined ? {} : { seqLen: options.seqLen }),
    ...(options.quantize === undefined ? {} : { quantize: options.quantize }),
    ...(options.gradientCheckpointing === undefined
      ? {}
      : { gradientCheckpointing: options.gradientCheckpointing }),
    quantizeOptions: givenQuantizeOptions(options),
  });
  return { ...report, config_file: file };
}
