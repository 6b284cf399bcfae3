import { ConfigError } from '@peft/core';
import { checkConfigSizes } from './config-limits.js';
import { parseRopeScaling, type RopeScaling } from './rope-scaling.js';

/** The `model_type` values this package builds, each a member of the Llama family. */
export const SUPPORTED_MODEL_TYPES = ['llama', 'mistral', 'qwen2'] as const;
export type LlamaFamilyType = (typeof SUPPORTED_MODEL_TYPES)[number];

const ARCHITECTURE_OF: Record<LlamaFamilyType, string> = {
  llama: 'LlamaForCausalLM',
  mistral: 'MistralForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
};

/** The transformers class of a model type, e.g. "LlamaForCausalLM". */
export function architectureOf(modelType: LlamaFamilyType): string {
  return ARCHITECTURE_OF[modelType];
}

/**
 * A Llama-family `config.json`, normalised: defaults filled in the way transformers fills them,
 * derived sizes computed once. `raw` keeps the file's own JSON so saving writes back every field
 * this package does not interpret (e.g. `quantization_config`).
 */
export interface LlamaConfig {
  readonly modelType: LlamaFamilyType;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly numKeyValueHeads: number;
  readonly headDim: number;
  readonly maxPositionEmbeddings: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  readonly ropeScaling: RopeScaling;
  readonly tieWordEmbeddings: boolean;
  /** Bias on q_proj, k_proj, v_proj. */
  readonly qkvBias: boolean;
  /** Bias on o_proj. */
  readonly outputBias: boolean;
  /** Bias on gate_proj, up_proj, down_proj. */
  readonly mlpBias: boolean;
  /** Per layer: the sliding attention window in tokens, or null for full causal attention. */
  readonly slidingWindows: readonly (number | null)[];
  readonly initializerRange: number;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: readonly number[];
  readonly padTokenId: number | null;
  readonly raw: Readonly<Record<string, unknown>>;
}

/** The fields a caller must give to describe a new model; everything else has the transformers default. */
export interface LlamaConfigInput {
  model_type?: LlamaFamilyType;
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  [field: string]: unknown;
}

type Json = Record<string, unknown>;

/**
 * Reads a Hugging Face `config.json` object. `where` names the file in error messages.
 * Old-config quirks are honoured: no `num_key_value_heads` means one KV head per query head, no
 * `rope_theta` means 10000.
 */
export function parseLlamaConfig(json: unknown, where = 'config.json'): LlamaConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ConfigError(`${where}: expected a JSON object`);
  }
  const raw = json as Json;
  const modelType = readModelType(raw, where);
  checkArchitectures(raw, modelType, where);
  const read = fieldReader(raw, where);

  const hiddenSize = read.positiveInt('hidden_size');
  const numAttentionHeads = read.positiveInt('num_attention_heads');
  const numKeyValueHeads = read.positiveInt('num_key_value_heads', numAttentionHeads);
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    throw new ConfigError(
      `${where}: num_attention_heads (${numAttentionHeads}) must be a multiple of num_key_value_heads (${numKeyValueHeads})`,
    );
  }
  // The default only applies without head_dim (a config may give a head_dim that does not divide hidden_size).
  const headDim =
    raw['head_dim'] === undefined || raw['head_dim'] === null
      ? headDimDefault(hiddenSize, numAttentionHeads, where)
      : read.positiveInt('head_dim');
  if (headDim % 2 !== 0)
    throw new ConfigError(`${where}: head_dim ${headDim} must be even for rotary embeddings`);
  const numHiddenLayers = read.positiveInt('num_hidden_layers');
  const vocabSize = read.positiveInt('vocab_size');
  const intermediateSize = read.positiveInt('intermediate_size');
  const maxPositionEmbeddings = read.positiveInt('max_position_embeddings', 2048);
  // Before anything is sized from them (per-layer lists here, the model and the plan later).
  checkConfigSizes(
    {
      vocabSize,
      hiddenSize,
      intermediateSize,
      numHiddenLayers,
      numAttentionHeads,
      numKeyValueHeads,
      headDim,
      maxPositionEmbeddings,
    },
    where,
  );

  const activation = read.optional('hidden_act') ?? 'silu';
  if (activation !== 'silu' && activation !== 'swish') {
    throw new ConfigError(
      `${where}: hidden_act ${JSON.stringify(activation)} is not supported (the Llama MLP is SwiGLU: "silu")`,
    );
  }
  const partialRotary = read.optional('partial_rotary_factor');
  if (partialRotary !== undefined && partialRotary !== null && partialRotary !== 1) {
    throw new ConfigError(
      `${where}: partial_rotary_factor ${JSON.stringify(partialRotary)} is not supported (Llama rotates the whole head)`,
    );
  }

  const ropeParameters = read.optional('rope_parameters');
  const ropeSource = isObject(ropeParameters) ? ropeParameters : raw;
  const ropeTheta = positiveNumber(ropeSource['rope_theta'] ?? 10000, 'rope_theta', where);
  const ropeScaling = parseRopeScaling(isObject(ropeParameters) ? ropeParameters : raw['rope_scaling'], {
    where,
    maxPositionEmbeddings,
  });

  const attentionBias = read.bool('attention_bias', false);
  return {
    modelType,
    vocabSize,
    hiddenSize,
    intermediateSize,
    numHiddenLayers,
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    maxPositionEmbeddings,
    rmsNormEps: positiveNumber(raw['rms_norm_eps'] ?? 1e-6, 'rms_norm_eps', where),
    ropeTheta,
    ropeScaling,
    tieWordEmbeddings: read.bool('tie_word_embeddings', false),
    // Qwen2 always has q/k/v biases and never an o_proj bias; Llama switches all four with attention_bias.
    qkvBias: modelType === 'qwen2' ? true : attentionBias,
    outputBias: modelType === 'llama' ? attentionBias : false,
    mlpBias: modelType === 'llama' ? read.bool('mlp_bias', false) : false,
    slidingWindows: slidingWindows(raw, modelType, numHiddenLayers, where),
    initializerRange: positiveNumber(raw['initializer_range'] ?? 0.02, 'initializer_range', where),
    bosTokenId: read.optionalTokenId('bos_token_id'),
    eosTokenIds: tokenIdList(raw['eos_token_id'], 'eos_token_id', where),
    padTokenId: read.optionalTokenId('pad_token_id'),
    raw: { ...raw },
  };
}

/** A config for a new model from the required sizes plus any transformers field (snake_case). */
export function llamaConfig(input: LlamaConfigInput): LlamaConfig {
  const modelType = input.model_type ?? 'llama';
  return parseLlamaConfig(
    { model_type: modelType, architectures: [ARCHITECTURE_OF[modelType]], ...input },
    'model config',
  );
}

/**
 * The `config.json` to write for a model: the original fields, with those this package owns
 * brought up to date. `tieWordEmbeddings` overrides the flag when a merge untied the head.
 */
export function configToJson(config: LlamaConfig, overrides: { tieWordEmbeddings?: boolean } = {}): Json {
  return {
    ...config.raw,
    architectures: [ARCHITECTURE_OF[config.modelType]],
    model_type: config.modelType,
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numHiddenLayers,
    num_attention_heads: config.numAttentionHeads,
    num_key_value_heads: config.numKeyValueHeads,
    head_dim: config.headDim,
    max_position_embeddings: config.maxPositionEmbeddings,
    rms_norm_eps: config.rmsNormEps,
    ...('rope_parameters' in config.raw ? {} : { rope_theta: config.ropeTheta }),
    tie_word_embeddings: overrides.tieWordEmbeddings ?? config.tieWordEmbeddings,
  };
}

function readModelType(raw: Json, where: string): LlamaFamilyType {
  const type = raw['model_type'];
  if (typeof type !== 'string') {
    throw new ConfigError(
      `${where}: "model_type" is missing; expected one of ${SUPPORTED_MODEL_TYPES.join(', ')}`,
    );
  }
  if (!(SUPPORTED_MODEL_TYPES as readonly string[]).includes(type)) {
    throw new ConfigError(
      `${where}: model_type ${JSON.stringify(type)} is not supported; @peft/models builds ${SUPPORTED_MODEL_TYPES.join(', ')}`,
    );
  }
  return type as LlamaFamilyType;
}

function checkArchitectures(raw: Json, modelType: LlamaFamilyType, where: string): void {
  const architectures = raw['architectures'];
  if (architectures === undefined || architectures === null) return;
  const expected = ARCHITECTURE_OF[modelType];
  if (!Array.isArray(architectures) || !architectures.includes(expected)) {
    throw new ConfigError(
      `${where}: architectures ${JSON.stringify(architectures)} is not supported for model_type "${modelType}"; expected ${expected}`,
    );
  }
}

function headDimDefault(hiddenSize: number, heads: number, where: string): number {
  if (hiddenSize % heads !== 0) {
    throw new ConfigError(
      `${where}: hidden_size ${hiddenSize} is not divisible by num_attention_heads ${heads}; give head_dim`,
    );
  }
  return hiddenSize / heads;
}

function slidingWindows(
  raw: Json,
  modelType: LlamaFamilyType,
  layers: number,
  where: string,
): (number | null)[] {
  const windowValue = raw['sliding_window'];
  // Llama has no sliding window; Qwen2 ignores its `sliding_window` unless `use_sliding_window` is set.
  const windowApplies =
    modelType === 'mistral' || (modelType === 'qwen2' && raw['use_sliding_window'] === true);
  const window =
    !windowApplies || windowValue === undefined || windowValue === null
      ? null
      : positiveInteger(windowValue, 'sliding_window', where);
  const layerTypes = raw['layer_types'];
  if (Array.isArray(layerTypes)) {
    if (layerTypes.length !== layers) {
      throw new ConfigError(`${where}: layer_types has ${layerTypes.length} entries for ${layers} layers`);
    }
    return layerTypes.map((t, i) => {
      if (t === 'full_attention') return null;
      if (t === 'sliding_attention' && window !== null) return window;
      throw new ConfigError(
        `${where}: layer_types[${i}] ${JSON.stringify(t)} is not supported here (or sliding_window is missing)`,
      );
    });
  }
  if (modelType === 'mistral') return Array.from({ length: layers }, () => window);
  if (modelType === 'qwen2' && window !== null) {
    const first = positiveIntegerOr(raw['max_window_layers'], 28, 'max_window_layers', where);
    return Array.from({ length: layers }, (_, i) => (i >= first ? window : null));
  }
  return Array.from({ length: layers }, () => null);
}

function fieldReader(raw: Json, where: string) {
  return {
    optional: (name: string): unknown => raw[name],
    positiveInt(name: string, fallback?: number): number {
      const value = raw[name];
      if (value === undefined || value === null) {
        if (fallback === undefined) throw new ConfigError(`${where}: required field "${name}" is missing`);
        return fallback;
      }
      return positiveInteger(value, name, where);
    },
    bool(name: string, fallback: boolean): boolean {
      const value = raw[name];
      if (value === undefined || value === null) return fallback;
      if (typeof value !== 'boolean')
        throw new ConfigError(`${where}: "${name}" must be true or false, got ${JSON.stringify(value)}`);
      return value;
    },
    optionalTokenId(name: string): number | null {
      const value = raw[name];
      if (value === undefined || value === null) return null;
      if (!Number.isSafeInteger(value) || (value as number) < 0) {
        throw new ConfigError(
          `${where}: "${name}" must be a non-negative integer, got ${JSON.stringify(value)}`,
        );
      }
      return value as number;
    },
  };
}

/** `eos_token_id` may be a number or a list of numbers (Llama 3 lists several). */
export function tokenIdList(value: unknown, name: string, where: string): number[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  for (const id of list) {
    if (!Number.isSafeInteger(id) || id < 0) {
      throw new ConfigError(
        `${where}: "${name}" must be a token id or a list of them, got ${JSON.stringify(value)}`,
      );
    }
  }
  return list as number[];
}

function positiveInteger(value: unknown, name: string, where: string): number {
  if (!Number.isSafeInteger(value) || (value as number) <= 0) {
    throw new ConfigError(`${where}: "${name}" must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value as number;
}

function positiveIntegerOr(value: unknown, fallback: number, name: string, where: string): number {
  return value === undefined || value === null ? fallback : positiveInteger(value, name, where);
}

function positiveNumber(value: unknown, name: string, where: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ConfigError(`${where}: "${name}" must be a positive number, got ${JSON.stringify(value)}`);
  }
  return value;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
