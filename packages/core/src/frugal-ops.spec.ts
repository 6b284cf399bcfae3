import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ShapeMismatchError } from './errors.js';
import { frugalAdd, frugalReshape, frugalScale } from './frugal-ops.js';
import { useCpuBackend } from './test-support/tf-cpu.js';

beforeAll(useCpuBackend);

/** Tensors the tape holds for the backward pass after `f` runs under it: the engine's saved tensors. */
function savedCount(f: () => tf.Tensor): number {
  let saved = 0;
  const x = tf.tensor2d([1, 2, 3, 4], [2, 2]);
  const { value, grads } = tf.engine().gradients(
    () => {
      const y = f();
      const tape = (tf.engine() as unknown as { state: { activeTape: { saved?: tf.Tensor[] }[] } }).state
        .activeTape;
      saved = tape.reduce((n, node) => n + (node.saved?.length ?? 0), 0);
      return tf.sum(y);
    },
    [x],
    undefined,
    true,
  );
  tf.dispose([x, value, ...grads.filter((g) => g !== null)]);
  return saved;
}

describe('frugalAdd and frugalScale', () => {
  const a = () => tf.tensor2d([1, -2, 3.5, 4], [2, 2]);
  const b = () => tf.tensor2d([0.25, 5, -1, 2], [2, 2]);
  const loss = (y: tf.Tensor) => tf.sum(tf.mul(y, tf.tensor2d([1, 2, 3, 4], [2, 2])));

  it('give tf.add’s and tf.mul’s values and gradients bit for bit', () => {
    const [x, y] = [a(), b()];
    const ours = tf.grads((p: tf.Tensor, q: tf.Tensor) => loss(frugalScale(frugalAdd(tf.exp(p), q), 0.375)))([
      x,
      y,
    ]);
    const theirs = tf.grads((p: tf.Tensor, q: tf.Tensor) => loss(tf.mul(tf.add(tf.exp(p), q), 0.375)))([
      x,
      y,
    ]);
    for (let i = 0; i < 2; i++) expect(ours[i]!.dataSync()).toEqual(theirs[i]!.dataSync());
    expect(frugalScale(frugalAdd(x, y), 0.375).dataSync()).toEqual(tf.mul(tf.add(x, y), 0.375).dataSync());
  });

  it('keep nothing for the backward pass, where tf.add and tf.mul keep their operands', () => {
    expect(savedCount(() => tf.add(a(), b()))).toBe(2);
    expect(savedCount(() => frugalAdd(a(), b()))).toBe(0);
    expect(savedCount(() => tf.mul(a(), 0.5))).toBe(2);
    expect(savedCount(() => frugalScale(a(), 0.5))).toBe(0);
    expect(savedCount(() => tf.reshape(a(), [4]))).toBe(1);
    expect(savedCount(() => frugalReshape(a(), [4]))).toBe(0);
  });

  it('frugalReshape gives tf.reshape’s gradient', () => {
    const x = a();
    const ours = tf.grad((p: tf.Tensor) =>
      tf.sum(tf.mul(frugalReshape(tf.exp(p), [4]), tf.tensor1d([1, 2, 3, 4]))),
    )(x);
    const theirs = tf.grad((p: tf.Tensor) =>
      tf.sum(tf.mul(tf.reshape(tf.exp(p), [4]), tf.tensor1d([1, 2, 3, 4]))),
    )(x);
    expect(ours.shape).toEqual([2, 2]);
    expect(ours.dataSync()).toEqual(theirs.dataSync());
  });

  it('frugalAdd refuses operands of different shapes', () => {
    expect(() => frugalAdd(a(), tf.tensor1d([1, 2]))).toThrow(ShapeMismatchError);
  });
});
