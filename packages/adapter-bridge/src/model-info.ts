import type { Module } from '@peft/core';

/**
 * Facts a model may declare on its root module (all optional) that PEFT takes from a Hugging Face
 * `PreTrainedModel`. A model tree that declares none of them still works with sensible defaults.
 */
export interface PeftModelInfo {
  /** Hugging Face `config.model_type` (e.g. "llama"): picks default `target_modules` when a config has none. */
  readonly modelType?: string;
  /**
   * Path of the output head that "all-linear" leaves alone (PEFT: `get_output_embeddings()`).
   * Default: "lm_head" when the root has such a child; null means the model has none.
   */
  readonly outputHeadPath?: string | null;
  /** Written to `base_model_name_or_path` on save when the config has none. */
  readonly nameOrPath?: string;
  /** The transformers class, e.g. "LlamaForCausalLM", for `auto_mapping.base_model_class`. */
  readonly architecture?: string;
  /** The module of that class, e.g. "transformers.models.llama.modeling_llama", for `auto_mapping`. */
  readonly parentLibrary?: string;
  /**
   * A base layer whose weight is another parameter of the model (tied input and output embeddings):
   * counted once, as PyTorch counts a shared Parameter once.
   */
  readonly tiedHead?: unknown;
}

export function modelInfo(model: Module): PeftModelInfo {
  return model as Partial<PeftModelInfo> as PeftModelInfo;
}
