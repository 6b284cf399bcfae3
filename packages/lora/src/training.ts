// What applications need to train with LoRA (contract v2): its options with their adapter_config
// fields, the default learning rate, and the parameter counts `peft plan` reports before loading weights.
import type {
  MethodParameterCounts,
  MethodTraining,
  ParameterCountTarget,
} from '@peft/adapter-bridge/method';
import { type LoraConfig, rankAndAlpha } from './config.js';

/**
 * Per targeted layer: `lora_A` [r, in] and `lora_B` [out, r], with r from `rank_pattern` where it
 * matches the layer, plus the layer's bias when the config trains biases. LoRA has no shared buffers.
 */
export function loraParameterCounts(
  config: LoraConfig,
  targets: readonly ParameterCountTarget[],
): MethodParameterCounts {
  const trainable = targets.reduce(
    (n, t) =>
      n +
      rankAndAlpha(config, t.path).r * (t.inFeatures + t.outFeatures) +
      (config.bias !== 'none' && t.bias ? t.outFeatures : 0),
    0,
  );
  return { trainable, saved: trainable, frozenBuffers: 0 };
}

/** `init_lora_weights` from its option value: the strings "true" / "false" are the booleans. */
function initLoraWeightsField(value: unknown): boolean | string {
  if (value === 'true') return true;
  if (value === 'false') return false;
  return value as string;
}

export const loraTraining: MethodTraining<LoraConfig> = {
  // The learning rate QLoRA and most LoRA recipes use.
  defaultLearningRate: 2e-4,
  options: [
    {
      name: 'r',
      type: 'int',
      configField: 'r',
      description: 'r: rank of the update B·A',
      default: 8,
      min: 1,
    },
    {
      name: 'dropout',
      type: 'number',
      configField: 'lora_dropout',
      description: 'lora_dropout: dropout probability on the adapter input, in [0, 1)',
      default: 0,
      min: 0,
      max: 1,
    },
    {
      name: 'loraAlpha',
      type: 'number',
      configField: 'lora_alpha',
      description: 'lora_alpha: the update is scaled by lora_alpha / r',
      default: 8,
    },
    {
      name: 'useRslora',
      type: 'boolean',
      configField: 'use_rslora',
      description: 'use_rslora: scale by lora_alpha / sqrt(r) (rank-stabilised LoRA)',
      default: false,
    },
    {
      name: 'initLoraWeights',
      type: 'string',
      configField: 'init_lora_weights',
      description:
        'init_lora_weights: true (Kaiming A, zero B), gaussian (normal A, zero B) or false (both random, not a no-op)',
      default: 'true',
      choices: ['true', 'false', 'gaussian'],
      toConfigValue: initLoraWeightsField,
    },
  ],
  parameterCounts: loraParameterCounts,
};
