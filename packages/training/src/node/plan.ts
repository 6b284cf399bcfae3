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
  /** An estimate of the memory a training run here holds, in bytes (TensorFlow.js keeps floats in float32). */
  training_memory: {
    quantize: string;
    batch_size: number;
    seq_len: number;
    /** Base weights as held in memory: float32 dense layers, or quantized layers plus float32 embeddings, norms and head. */
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
  // The loader keeps a tied head as its own transposed float32 copy of the embedding.
  const tiedCopy = config.tieWordEmbeddings ? config.vocabSize * config.hiddenSize * 4 : 0;
  let heldBase = total * 4 + tiedCopy;
  if (quantize !== 'none') {
    const q = getQuantizer(quantize);
    heldBase = quantizedBytes(q, q.resolveOptions(options.quantizeOptions ?? {}), true) + rest * 4 + tiedCopy;
  }
  const {
    hiddenSize: h,
    intermediateSize: i,
    numAttentionHeads: heads,
    numHiddenLayers: layers,
    vocabSize: v,
  } = config;
  // Per token and layer: norms, q/k/v/o and their rotary copies, attention scores and probabilities, the
  // SwiGLU branch; then logits, their softmax and gradient.
  const activations = 4 * batch * seqLen * (layers * (10 * h + 4 * i + 2 * heads * seqLen) + 3 * v);
  const adapterAndOptimizer = 16 * trainable;
  const buffers = 4 * sizes.frozenBuffers;
  const r = (options.adapter as { r?: unknown }).r;

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
      base: heldBase,
      adapter_and_optimizer: adapterAndOptimizer,
      method_buffers: buffers,
      activations,
      total: heldBase + adapterAndOptimizer + buffers + activations,
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
    quantizeOptions: givenQuantizeOptions(options),
  });
  return { ...report, config_file: file };
}
