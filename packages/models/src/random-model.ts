import { fromFloat32, randn, type StateDict, stateDictSource, TorchGenerator } from '@peft/core';
import type { LlamaConfig } from './config.js';
import { checkpointLayout } from './layout.js';
import { loadLlama } from './load.js';
import type { LlamaForCausalLM } from './model.js';

/**
 * The float32 tensors of a freshly initialised model, initialised as transformers does: weights
 * and embeddings ~ N(0, initializer_range²), biases 0, norm weights 1. Deterministic for a seed
 * (one `TorchGenerator`, tensors drawn in checkpoint order); not the same numbers torch would draw.
 */
export function randomStateDict(config: LlamaConfig, seed: number | bigint): StateDict {
  const generator = new TorchGenerator(seed);
  const std = config.initializerRange;
  const dict: StateDict = new Map();
  const layout = checkpointLayout(config);
  const normal = (shape: number[]) =>
    fromFloat32(randn(shape[0]! * (shape[1] ?? 1), generator, { std }), shape);
  const filled = (shape: number[], value: number) =>
    fromFloat32(new Float32Array(shape[0]!).fill(value), shape);
  for (const spec of layout.tensors) {
    const shape = [...spec.shape];
    dict.set(spec.name, spec.name.endsWith('embed_tokens.weight') ? normal(shape) : filled(shape, 1));
  }
  for (const spec of layout.linears) {
    dict.set(`${spec.path}.weight`, normal([spec.outFeatures, spec.inFeatures]));
    if (spec.bias) dict.set(`${spec.path}.bias`, filled([spec.outFeatures], 0));
  }
  return dict;
}

/** A randomly initialised model (see `randomStateDict`), for tests, demos and pretraining from scratch. */
export function createRandomModel(config: LlamaConfig, seed: number | bigint): Promise<LlamaForCausalLM> {
  return loadLlama(
    stateDictSource(randomStateDict(config, seed), `random ${config.modelType} (seed ${seed})`),
    config,
  );
}
