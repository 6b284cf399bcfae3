import type * as tf from '@tensorflow/tfjs-core';
import { type CheckpointOptions, checkpointed } from '../checkpoint.js';
import type { Attention, AttentionContext } from './attention.js';
import type { DecoderLayer } from './decoder-layer.js';

/**
 * One decoder layer under activation checkpointing: only its input (and the rotary tables and mask
 * it reads) is kept for the backward pass, which runs the layer again. The trainable variables
 * inside the layer (adapters wrap its linears) are taken at call time, so adapters injected after
 * loading receive their gradients.
 */
export function checkpointedLayerForward(
  layer: DecoderLayer,
  x: tf.Tensor3D,
  context: AttentionContext,
  options: Pick<CheckpointOptions, 'randomState'> = {},
): tf.Tensor3D {
  const { bias, keep } = context.mask(layer.child<Attention>('self_attn').slidingWindow);
  const constants = [context.rotary.cos, context.rotary.sin, bias, ...(keep ? [keep] : [])];
  return checkpointed(
    (input: tf.Tensor3D, saved) => {
      const [cos, sin, savedBias, savedKeep] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor4D?];
      const mask = { bias: savedBias, keep: savedKeep ?? null };
      return layer.forward(input, { rotary: { cos, sin }, mask: () => mask });
    },
    x,
    { constants, variables: layer.trainableVariables(), ...options },
  );
}
