import { frugalGradients } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * The vector-Jacobian product dy·∂f/∂xs, where f is run again here (under its own gradient tape).
 * Safe to call from inside a `tf.customGrad` gradient function, i.e. while an outer backward pass is
 * running: frugalGradients puts the outer pass's tape back on the engine when it is done. The recorded
 * tape of `f` is freed as soon as its gradients are taken, so recomputation costs the memory of one
 * call of `f`, not of all of them at once.
 *
 * Returns one gradient per x (zeros where f does not depend on that x). `dy` has f's shape.
 */
export function vectorJacobianProduct(
  f: () => tf.Tensor,
  xs: readonly tf.Tensor[],
  dy: tf.Tensor,
): tf.Tensor[] {
  return tf.tidy(() => {
    const { value, grads } = frugalGradients(f, xs, dy);
    value.dispose();
    return grads.map((g, i) => g ?? tf.zerosLike(xs[i]!));
  });
}
