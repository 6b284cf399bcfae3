import { Module } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';

/** RMSNorm as in transformers' LlamaRMSNorm: x / sqrt(mean(x²) + eps) · weight, over the last axis. */
export class RMSNorm extends Module {
  readonly eps: number;
  readonly size: number;
  private readonly weight: tf.Variable;

  /** `weight` is [size]; the module keeps its own frozen copy. */
  constructor(weight: tf.Tensor1D, eps: number) {
    super();
    this.size = weight.shape[0];
    this.eps = eps;
    this.weight = this.registerParameter('weight', tf.variable(weight, false));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const variance = tf.mean(tf.square(x), -1, true);
      return tf.mul(tf.mul(x, tf.rsqrt(tf.add(variance, this.eps))), this.weight);
    });
  }
}
