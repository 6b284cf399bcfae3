import { ConfigError } from '@peft/core';

/**
 * Bounds on the sizes a `config.json` may declare, checked before anything is sized from them. A hostile
 * or mistyped config (a layer count of 1e9) must fail with a sentence naming the field, not as a stack
 * overflow or an out-of-memory crash inside whatever first allocates per layer. The bounds are about what
 * this package can represent, so every published Llama-family shape, 70B included, passes: a plan is
 * computed from the config alone, and loading weights compares every tensor's stored shape with it.
 */

/** Decoder layers: eight times the deepest published Llama-family model (Llama 3.1 405B has 126). */
export const MAX_HIDDEN_LAYERS = 1024;

/** Rotary positions are float32 on every backend, exact up to 2^24; a longer context cannot be encoded. */
export const MAX_POSITION_EMBEDDINGS = 2 ** 24;

/**
 * Values in one tensor: 2^30 float32 values are 4 GiB, all of wasm32 memory (TensorFlow.js' wasm heap is
 * one wasm32 memory), and more than one ArrayBuffer of Node 20 holds. Llama 3 70B's embedding table
 * (128256 x 8192) is just under it.
 */
export const MAX_TENSOR_ELEMENTS = 2 ** 30;

export interface ConfigSizes {
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly numKeyValueHeads: number;
  readonly headDim: number;
  readonly maxPositionEmbeddings: number;
}

const FIELD: Record<keyof ConfigSizes, string> = {
  vocabSize: 'vocab_size',
  hiddenSize: 'hidden_size',
  intermediateSize: 'intermediate_size',
  numHiddenLayers: 'num_hidden_layers',
  numAttentionHeads: 'num_attention_heads',
  numKeyValueHeads: 'num_key_value_heads',
  headDim: 'head_dim',
  maxPositionEmbeddings: 'max_position_embeddings',
};

/** Throws a `ConfigError` naming `where` and the field when a size, or a tensor sized from several, is out of bounds. */
export function checkConfigSizes(sizes: ConfigSizes, where: string): void {
  if (sizes.numHiddenLayers > MAX_HIDDEN_LAYERS) {
    throw new ConfigError(
      `${where}: "num_hidden_layers" is ${sizes.numHiddenLayers}; at most ${MAX_HIDDEN_LAYERS} decoder layers are supported (the deepest published Llama-family model has 126)`,
    );
  }
  if (sizes.maxPositionEmbeddings > MAX_POSITION_EMBEDDINGS) {
    throw new ConfigError(
      `${where}: "max_position_embeddings" is ${sizes.maxPositionEmbeddings}; positions above 2^24 (${MAX_POSITION_EMBEDDINGS}) cannot be represented exactly in float32 for rotary embeddings`,
    );
  }
  const { hiddenSize, headDim } = sizes;
  // Every weight matrix of the model, as [rows, cols] with the fields they come from.
  const tensors: [string, number, keyof ConfigSizes, number, keyof ConfigSizes][] = [
    ['model.embed_tokens.weight', sizes.vocabSize, 'vocabSize', hiddenSize, 'hiddenSize'],
    ['mlp.*_proj.weight', sizes.intermediateSize, 'intermediateSize', hiddenSize, 'hiddenSize'],
    [
      'self_attn.q_proj.weight',
      sizes.numAttentionHeads * headDim,
      'numAttentionHeads',
      hiddenSize,
      'hiddenSize',
    ],
    [
      'self_attn.k_proj.weight',
      sizes.numKeyValueHeads * headDim,
      'numKeyValueHeads',
      hiddenSize,
      'hiddenSize',
    ],
  ];
  for (const [tensor, rows, rowField, cols, colField] of tensors) {
    const elements = rows * cols;
    if (elements <= MAX_TENSOR_ELEMENTS) continue;
    const rowsText =
      rowField === 'numAttentionHeads' || rowField === 'numKeyValueHeads'
        ? `"${FIELD[rowField]}" x "head_dim" (${rows})`
        : `"${FIELD[rowField]}" (${rows})`;
    throw new ConfigError(
      `${where}: ${rowsText} x "${FIELD[colField]}" (${cols}) = ${elements} values in ${tensor}; ` +
        `one tensor holds at most 2^30 float32 values (4 GiB, all of wasm32 memory)`,
    );
  }
}
