import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useCpuBackend } from '../test-support/tf-cpu.js';
import { maskScores } from './mask-scores.js';

beforeAll(useCpuBackend);

/** Bytes the tape holds for the backward pass right after `f` runs under it. */
function savedBytes(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor): number {
  let bytes = 0;
  const { value, grads } = tf.engine().gradients(
    () => {
      const y = f(x);
      const tape = (tf.engine() as unknown as { state: { activeTape: { saved?: tf.Tensor[] }[] } }).state
        .activeTape;
      bytes = tape.reduce((n, node) => n + (node.saved ?? []).reduce((m, t) => m + t.size * 4, 0), 0);
      return tf.sum(tf.mul(y, y));
    },
    [x],
    undefined,
    true,
  );
  tf.dispose([value, ...grads.filter((g) => g !== null)]);
  return bytes;
}

describe('maskScores', () => {
  const raw = tf.randomNormal([2, 3, 4, 5], 0, 1, 'float32', 1);
  const keep = tf.tensor4d(
    Array.from({ length: 2 * 20 }, (_, i) => (i % 3 === 0 ? 0 : 1)),
    [2, 1, 4, 5],
  );
  const bias = tf.mul(tf.sub(1, keep), -1e9);

  it('gives the composed ops’ values and gradients bit for bit, with and without a keep mask', () => {
    for (const k of [keep, null]) {
      const composed = (x: tf.Tensor) => tf.add(k ? tf.mul(x, k) : x, bias);
      const ours = (x: tf.Tensor) => maskScores(x, k, bias);
      expect(ours(raw).dataSync()).toEqual(composed(raw).dataSync());
      const loss = (f: (x: tf.Tensor) => tf.Tensor) => (x: tf.Tensor) => tf.sum(tf.mul(f(x), tf.sin(x)));
      expect(tf.grad(loss(ours))(raw).dataSync()).toEqual(tf.grad(loss(composed))(raw).dataSync());
    }
  });

  it('keeps only the mask for the backward pass, not the scores', () => {
    const composedBytes = savedBytes((x) => tf.add(tf.mul(x, keep), bias), raw);
    const ourBytes = savedBytes((x) => maskScores(x, keep, bias), raw);
    // tf.mul saves the scores and the mask, tf.add its two operands (the product and the bias); ours, the mask.
    expect(ourBytes).toBe(keep.size * 4);
    expect(composedBytes - ourBytes).toBe(2 * raw.size * 4 + bias.size * 4);
  });

  it('refuses masks that would broadcast the scores to a larger shape or do not fit them, before computing', () => {
    const raw = tf.zeros([4, 5]);
    const masks = [tf.zeros([2, 4, 5]), tf.ones([3, 5]), tf.zeros([1, 5])];
    const before = tf.memory().numTensors;
    expect(() => maskScores(raw, null, masks[0]!)).toThrow(/broadcast/);
    expect(() => maskScores(raw, masks[1]!, masks[2]!)).toThrow(/broadcast/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([raw, ...masks]);
  });
});
