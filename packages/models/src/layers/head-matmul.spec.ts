import { matMulBoth } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useCpuBackend } from '../test-support/tf-cpu.js';
import { attendPerHead } from './head-matmul.js';

beforeAll(useCpuBackend);

function expectClose(actual: tf.Tensor, expected: tf.Tensor): void {
  expect(actual.shape).toEqual(expected.shape);
  const x = actual.dataSync();
  const y = expected.dataSync();
  for (let i = 0; i < x.length; i++)
    expect(Math.abs(x[i]! - y[i]!)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(y[i]!)));
}

/** The batched computation attention.ts runs for short sequences. */
function batched(
  q: tf.Tensor4D,
  kT: tf.Tensor4D,
  v: tf.Tensor4D,
  bias: tf.Tensor4D,
  keep: tf.Tensor4D | null,
) {
  const raw = matMulBoth<tf.Tensor4D>(q, kT);
  return matMulBoth<tf.Tensor4D>(tf.softmax(tf.add(keep ? tf.mul(raw, keep) : raw, bias)) as tf.Tensor4D, v);
}

describe('attendPerHead', () => {
  const [B, H, M, S, d] = [2, 3, 4, 5, 6];
  const q = tf.randomNormal([B, H, M, d], 0, 1, 'float32', 1) as tf.Tensor4D;
  const kT = tf.randomNormal([B, H, d, S], 0, 1, 'float32', 2) as tf.Tensor4D;
  const v = tf.randomNormal([B, H, S, d], 0, 1, 'float32', 3) as tf.Tensor4D;
  const weight = tf.randomNormal([B, H, M, d], 0, 1, 'float32', 4);
  // Row 1 masks its first two keys (left padding); a shared mask has batch 1.
  const perRow = tf.tensor4d(
    Array.from({ length: B * M * S }, (_, i) => (Math.floor(i / (M * S)) === 1 && i % S < 2 ? -1e9 : 0)),
    [B, 1, M, S],
  );
  const shared = tf.tensor4d(
    Array.from({ length: M * S }, (_, i) => (i % S > Math.floor(i / S) + 1 ? -1e9 : 0)),
    [1, 1, M, S],
  );
  const keep = tf.tensor4d(
    Array.from({ length: M * S }, (_, i) => (i % S > Math.floor(i / S) + 1 ? 0 : 1)),
    [1, 1, M, S],
  );

  for (const [name, bias, keepMask] of [
    ['a per-row mask', perRow, null],
    ['a shared mask with keep', shared, keep],
  ] as const) {
    it(`gives the batched attention's values and gradients (${name})`, () => {
      const loss = (f: typeof batched) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        tf.sum(tf.mul(f(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, bias, keepMask), weight));
      const ours = attendPerHead(q, kT, v, bias, keepMask);
      const reference = batched(q, kT, v, bias, keepMask);
      expectClose(ours, reference);
      const g = tf.grads(loss(attendPerHead))([q, kT, v]);
      const r = tf.grads(loss(batched))([q, kT, v]);
      for (const [i, grad] of g.entries()) expectClose(grad, r[i]!);
      tf.dispose([ours, reference, ...g, ...r]);
    });
  }
});
