// Public surface of @peft/models (browser-safe). File I/O lives in `@peft/models/node`.

export type { RandomStateHooks } from './checkpoint.js';
export {
  type ChunkedLossOptions,
  chunkedCausalLmLoss,
  DEFAULT_LOSS_CHUNK_BYTES,
  type LossHead,
  lossChunkTokens,
} from './chunked-loss.js';
export {
  configToJson,
  type LlamaConfig,
  type LlamaConfigInput,
  type LlamaFamilyType,
  llamaConfig,
  parseLlamaConfig,
  SUPPORTED_MODEL_TYPES,
} from './config.js';
export { MAX_HIDDEN_LAYERS, MAX_POSITION_EMBEDDINGS, MAX_TENSOR_ELEMENTS } from './config-limits.js';
export { CheckpointError, InputError } from './errors.js';
export { type FinishReason, type GenerateOptions, type GenerateResult, generate } from './generate.js';
export { parseGenerationConfig } from './generation-config.js';
export { KvCache } from './kv-cache.js';
export { type CheckpointLayout, checkpointLayout, type LinearSpec } from './layout.js';
export { type LoadOptions, loadLlama, type QuantizeLinear, type QuantizeLinearContext } from './load.js';
export { causalLmLoss, IGNORE_INDEX } from './loss.js';
export {
  type CausalLmInput,
  type CausalLmLossOptions,
  type CausalLmOutput,
  type GradientCheckpointingOptions,
  LlamaForCausalLM,
  LlamaModel,
} from './model.js';
export { MODEL_PRESETS, type ModelPresetName, modelPreset } from './presets.js';
export { loadPretrained, type PretrainedFiles, type PretrainedModel } from './pretrained.js';
export { type NamedBlob, pretrainedFilesFromBlobs } from './pretrained-blobs.js';
export { type LoadQuantization, quantizeOnLoad } from './quantize-on-load.js';
export { createRandomModel, randomStateDict } from './random-model.js';
export { randomTokenizerJson } from './random-tokenizer.js';
export { inverseFrequencies } from './rope.js';
export { type RopeScaling, SUPPORTED_ROPE_TYPES } from './rope-scaling.js';
export { pickToken, type SamplingOptions } from './sampling.js';
export { type ModelStateDict, modelStateDict } from './state-dict.js';
export type { HostBatch, TokenBatch } from './token-batch.js';
export { TextTokenizer } from './tokenizer.js';
export { type LlamaTokenizerJsonInput, llamaTokenizerJson } from './tokenizer-json.js';
