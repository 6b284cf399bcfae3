// What applications need to train with VeRA (contract v2): its options with their adapter_config
// fields, the default learning rate, and the parameter counts `peft plan` reports before loading weights.
import type {
  MethodParameterCounts,
  MethodTraining,
  ParameterCountTarget,
} from '@peft/adapter-bridge/method';
import type { VeraConfig } from './config.js';

/**
 * Per targeted layer: `vera_lambda_b` (out) and `vera_lambda_d` (r), plus the layer's bias when the
 * config trains biases. `vera_A` [r, max in] and `vera_B` [max out, r] are shared frozen buffers, saved
 * only with `save_projection`.
 */
export function veraParameterCounts(
  config: VeraConfig,
  targets: readonly ParameterCountTarget[],
): MethodParameterCounts {
  if (targets.length === 0) return { trainable: 0, saved: 0, frozenBuffers: 0 };
  const bias = (t: ParameterCountTarget) => (config.bias !== 'none' && t.bias ? t.outFeatures : 0);
  const trainable = targets.reduce((n, t) => n + t.outFeatures + config.r + bias(t), 0);
  const maxIn = Math.max(...targets.map((t) => t.inFeatures));
  const maxOut = Math.max(...targets.map((t) => t.outFeatures));
  const projections = config.r * (maxIn + maxOut);
  return {
    trainable,
    saved: trainable + (config.save_projection ? projections : 0),
    frozenBuffers: projections,
  };
}

export const veraTraining: MethodTraining<VeraConfig> = {
  // VeRA trains a few scaling vectors, so it wants a learning rate far above LoRA's (paper, Table 8).
  defaultLearningRate: 1e-2,
  options: [
    {
      name: 'r',
      type: 'int',
      configField: 'r',
      description: 'r: rank of the shared projections vera_A / vera_B',
      default: 256,
      min: 1,
    },
    {
      name: 'dropout',
      type: 'number',
      configField: 'vera_dropout',
      description: 'vera_dropout: dropout probability on the adapter input, in [0, 1)',
      default: 0,
      min: 0,
      max: 1,
    },
    {
      name: 'dInitial',
      type: 'number',
      configField: 'd_initial',
      description: 'd_initial: initial value of every vera_lambda_d entry',
      default: 0.1,
    },
    {
      name: 'projectionPrngKey',
      type: 'int',
      configField: 'projection_prng_key',
      description: 'projection_prng_key: seed of the torch generator that draws vera_A and vera_B',
      default: 0,
      min: 0,
    },
    {
      name: 'saveProjection',
      type: 'boolean',
      configField: 'save_projection',
      description:
        'save_projection: save vera_A / vera_B with the adapter (false: regenerate them from the key)',
      default: true,
    },
  ],
  parameterCounts: veraParameterCounts,
};
