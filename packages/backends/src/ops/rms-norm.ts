import { ShapeMismatchError } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { RmsNorm, RmsNormGrad } from '../kernels/kernel-names.js';
import { ensureKernels } from './ensure-kernels.js';

/**
 * RMSNorm over the last axis, fused: y = x * rsqrt(mean(x^2, -1) + epsilon) * weight, for x of any rank.
 * Differentiable with respect to x and weight (one fused gradient kernel computes both).
 */
export function rmsNorm(x: tf.Tensor, weight: tf.Tensor1D, epsilon = 1e-6): tf.Tensor {
  const D = weight.shape[0];
  if (weight.rank !== 1 || x.rank < 1 || x.shape[x.rank - 1] !== D) {
    throw new ShapeMismatchError(
      `rmsNorm: x ${JSON.stringify(x.shape)} and weight ${JSON.stringify(weight.shape)} disagree; the last axis of x must equal the weight's length`,
    );
  }
  if (!(epsilon >= 0)) throw new ShapeMismatchError(`rmsNorm: epsilon must be >= 0, got ${epsilon}`);
  ensureKernels('rmsNorm');
  const attrs = { epsilon } as unknown as tf.NamedAttrMap;
  const norm = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, w, save] = args as [tf.Tensor, tf.Tensor1D, tf.GradSaveFunc];
    const x2d = tf.reshape(tf.cast(input, 'float32'), [-1, D]);
    const w32 = tf.cast(w, 'float32');
    save([x2d, w32]);
    const y = tf.engine().runKernel(RmsNorm, { x: x2d, weight: w32 }, attrs) as tf.Tensor;
    return {
      value: tf.reshape(y, input.shape),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws] = saved as [tf.Tensor, tf.Tensor];
        const [dx, dw] = tf
          .engine()
          .runKernel(RmsNormGrad, { dy: tf.reshape(dy, [-1, D]), x: xs, weight: ws }, attrs) as tf.Tensor[];
        return [tf.reshape(dx!, input.shape), dw!];
      },
    };
  });
  return norm(x, weight);
}
