import * as tf from '@tensorflow/tfjs-core';
import { ShapeMismatchError } from './errors.js';

// TensorFlow.js' Add saves both operands for its backward pass (it reads their shapes to undo broadcasting), Reshape
// saves its input (to read its shape), and Mul by a constant saves the tensor; no gradient here needs the values. Saved operands stay alive until the backward pass reaches them: for an adapter that is the base layer's
// output and the adapter's delta, [tokens, out] each, in every adapted layer. These two keep nothing.

/** a + b for operands of one shape, keeping neither for the backward pass (the gradient of each is dy). */
export function frugalAdd<T extends tf.Tensor>(a: T, b: tf.Tensor): T {
  if (!tf.util.arraysEqual(a.shape, b.shape)) {
    throw new ShapeMismatchError(`frugalAdd needs operands of one shape, got [${a.shape}] and [${b.shape}]`);
  }
  const op = tf.customGrad((...args: unknown[]) => ({
    value: tf.add(args[0] as tf.Tensor, args[1] as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => [tf.clone(dy), tf.clone(dy)],
  }));
  return op(a, b) as T;
}

/** x · factor for a number factor, keeping nothing for the backward pass (the gradient is dy · factor). */
export function frugalScale<T extends tf.Tensor>(x: T, factor: number): T {
  const op = tf.customGrad((...args: unknown[]) => ({
    value: tf.mul(args[0] as tf.Tensor, factor),
    gradFunc: (dy: tf.Tensor) => tf.mul(dy, factor),
  }));
  return op(x) as T;
}

/** tf.reshape that keeps nothing for the backward pass (the gradient is dy reshaped back to x's shape). */
export function frugalReshape<T extends tf.Tensor>(x: tf.Tensor, shape: number[]): T {
  const inputShape = [...x.shape];
  const op = tf.customGrad((...args: unknown[]) => ({
    value: tf.reshape(args[0] as tf.Tensor, shape),
    gradFunc: (dy: tf.Tensor) => tf.reshape(dy, inputShape),
  }));
  return op(x) as T;
}
