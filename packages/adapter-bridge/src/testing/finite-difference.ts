import * as tf from '@tensorflow/tfjs-core';

/**
 * Central finite differences of a scalar `loss()` with respect to each element of `variable`
 * (the independent oracle gradient checks compare `tf.grad` against). `loss` must be deterministic
 * (evaluation mode, no dropout). The variable is restored afterwards.
 */
export function finiteDifferenceGradient(
  loss: () => tf.Scalar,
  variable: tf.Variable,
  epsilon = 1e-2,
): Float32Array {
  const original = variable.dataSync().slice() as Float32Array;
  const grad = new Float32Array(original.length);
  const evalAt = (values: Float32Array): number => {
    const t = tf.tensor(values, variable.shape);
    variable.assign(t);
    t.dispose();
    const l = tf.tidy(loss);
    const v = l.dataSync()[0]!;
    l.dispose();
    return v;
  };
  for (let i = 0; i < original.length; i++) {
    const plus = original.slice();
    plus[i] = original[i]! + epsilon;
    const minus = original.slice();
    minus[i] = original[i]! - epsilon;
    grad[i] = (evalAt(plus) - evalAt(minus)) / (2 * epsilon);
  }
  const t = tf.tensor(original, variable.shape);
  variable.assign(t);
  t.dispose();
  return grad;
}
