import type * as tf from '@tensorflow/tfjs-core';
import { type CheckpointOptions, checkpointed } from '../checkpoint.js';
import { InputError } from '../errors.js';
import type { Attention, AttentionContext } from './attention.js';
import type { DecoderLayer } from './decoder-layer.js';

/**
 * One decoder layer under activation checkpointing: only its input is kept for the backward pass,
 * which runs the layer again with rotary tables and mask rebuilt from the host (`context.rebuild`).
 * The trainable variables inside the layer (adapters wrap its linears) are taken at call time, so
 * adapters injected after loading receive their gradients.
 */
export function checkpointedLayerForward(
  layer: DecoderLayer,
  x: tf.Tensor3D,
  context: AttentionContext,
  options: Pick<CheckpointOptions, 'randomState'> = {},
): tf.Tensor3D {
  const { rebuild } = context;
  if (!rebuild) throw new InputError('gradient checkpointing needs an attention context that can be rebuilt');
  const window = layer.child<Attention>('self_attn').slidingWindow;
  return checkpointed(
    (input: tf.Tensor3D, phase) => layer.forward(input, phase === 'forward' ? context : rebuild(window)),
    x,
    { variables: layer.trainableVariables(), ...options },
  );
}
