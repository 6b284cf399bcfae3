import * as tf from '@tensorflow/tfjs-core';

/**
 * tf.transpose(x, perm), as a reshape where the permutation moves only axes of length 1: the other axes keep their
 * order, so the values are already where the transpose would put them. Decoding meets this on every step (one
 * token: [B, 1, heads, d] to [B, heads, 1, d]), where each Transpose kernel call costs more than its few values.
 */
export function transposeAxes<T extends tf.Tensor>(x: T, perm: readonly number[]): T {
  const kept = perm.filter((axis) => x.shape[axis] !== 1);
  const inOrder = kept.every((axis, i) => i === 0 || kept[i - 1]! < axis);
  return (
    inOrder
      ? tf.reshape(
          x,
          perm.map((axis) => x.shape[axis]!),
        )
      : tf.transpose(x, [...perm])
  ) as T;
}
