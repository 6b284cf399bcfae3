import * as tf from '@tensorflow/tfjs-core';
import type { HostBatch } from './token-batch.js';

/** Label value that contributes nothing to the loss, as in PyTorch's `cross_entropy`. */
export const IGNORE_INDEX = -100;

/**
 * Next-token cross-entropy as transformers' `ForCausalLMLoss`: logits at t predict labels at t + 1,
 * and the mean is over the labels that are not `IGNORE_INDEX`. With no such label the loss is 0
 * (PyTorch gives NaN, which would poison a training step).
 *
 * The target logit is picked with a one-hot product, not `tf.gather`: gather's gradient needs the
 * UnsortedSegmentSum kernel, which tfjs-backend-wasm does not have.
 */
export function causalLmLoss(logits: tf.Tensor3D, labels: HostBatch): tf.Scalar {
  const [batch, time, vocab] = logits.shape;
  const { targets, weights, count } = shiftedTargets(labels);
  if (count === 0) return tf.scalar(0);
  return tf.tidy(() => {
    const flat = tf.reshape(logits, [batch * time, vocab]) as tf.Tensor2D;
    const targetLogits = tf.sum(tf.mul(flat, tf.oneHot(tf.tensor1d(targets, 'int32'), vocab)), -1);
    const perToken = tf.sub(tf.logSumExp(flat, -1), targetLogits);
    return tf.div(tf.sum(tf.mul(perToken, tf.tensor1d(weights))), count) as tf.Scalar;
  });
}

/** Per position of the flattened [B·T] batch: the label it predicts (t + 1), 1 if that label counts, and how many do. */
export interface ShiftedTargets {
  readonly targets: Int32Array;
  readonly weights: Float32Array;
  readonly count: number;
}

export function shiftedTargets(labels: HostBatch): ShiftedTargets {
  const { batch, time } = labels;
  const targets = new Int32Array(batch * time);
  const weights = new Float32Array(batch * time);
  let count = 0;
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t + 1 < time; t++) {
      const label = labels.data[b * time + t + 1]!;
      if (label === IGNORE_INDEX) continue;
      targets[b * time + t] = label;
      weights[b * time + t] = 1;
      count++;
    }
  }
  return { targets, weights, count };
}
