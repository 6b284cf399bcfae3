import type { LlamaConfig } from './config.js';

/** One linear layer a config calls for: its module path and logical shape. */
export interface LinearSpec {
  readonly path: string;
  readonly outFeatures: number;
  readonly inFeatures: number;
  readonly bias: boolean;
}

/** One plain float tensor (embedding or norm weight). */
export interface TensorSpec {
  readonly name: string;
  readonly shape: readonly number[];
}

/** Every tensor of a Llama-family checkpoint, named as transformers names them. */
export interface CheckpointLayout {
  readonly linears: readonly LinearSpec[];
  readonly tensors: readonly TensorSpec[];
}

export function layerPrefix(index: number): string {
  return `model.layers.${index}`;
}

export function checkpointLayout(config: LlamaConfig): CheckpointLayout {
  const { hiddenSize: h, headDim, numAttentionHeads, numKeyValueHeads, intermediateSize, vocabSize } = config;
  const linears: LinearSpec[] = [];
  const tensors: TensorSpec[] = [{ name: 'model.embed_tokens.weight', shape: [vocabSize, h] }];
  for (let i = 0; i < config.numHiddenLayers; i++) {
    const p = layerPrefix(i);
    linears.push(
      {
        path: `${p}.self_attn.q_proj`,
        outFeatures: numAttentionHeads * headDim,
        inFeatures: h,
        bias: config.qkvBias,
      },
      {
        path: `${p}.self_attn.k_proj`,
        outFeatures: numKeyValueHeads * headDim,
        inFeatures: h,
        bias: config.qkvBias,
      },
      {
        path: `${p}.self_attn.v_proj`,
        outFeatures: numKeyValueHeads * headDim,
        inFeatures: h,
        bias: config.qkvBias,
      },
      {
        path: `${p}.self_attn.o_proj`,
        outFeatures: h,
        inFeatures: numAttentionHeads * headDim,
        bias: config.outputBias,
      },
      { path: `${p}.mlp.gate_proj`, outFeatures: intermediateSize, inFeatures: h, bias: config.mlpBias },
      { path: `${p}.mlp.up_proj`, outFeatures: intermediateSize, inFeatures: h, bias: config.mlpBias },
      { path: `${p}.mlp.down_proj`, outFeatures: h, inFeatures: intermediateSize, bias: config.mlpBias },
    );
    tensors.push(
      { name: `${p}.input_layernorm.weight`, shape: [h] },
      { name: `${p}.post_attention_layernorm.weight`, shape: [h] },
    );
  }
  tensors.push({ name: 'model.norm.weight', shape: [h] });
  if (!config.tieWordEmbeddings)
    linears.push({ path: 'lm_head', outFeatures: vocabSize, inFeatures: h, bias: false });
  return { linears, tensors };
}

/**
 * Tensors a checkpoint may carry that the model does not use: the legacy RoPE buffer older
 * transformers saved, and a duplicate head weight when the embeddings are tied.
 */
export function isIgnoredTensor(name: string, config: LlamaConfig): boolean {
  if (/^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/.test(name)) return true;
  return config.tieWordEmbeddings && name === 'lm_head.weight';
}
