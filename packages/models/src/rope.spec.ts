import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { llamaConfig } from './config.js';
import { applyRotary, inverseFrequencies, rotaryTables } from './rope.js';
import { useCpuBackend } from './test-support/tf-cpu.js';

beforeAll(useCpuBackend);

const CONFIG = llamaConfig({
  vocab_size: 16,
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 1,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  rope_theta: 10000,
});

/** transformers' apply_rotary_pos_emb, half by half in float32: (x1·cos - x2·sin, x2·cos + x1·sin). */
function reference(x: Float32Array, shape: number[], positions: Int32Array): Float32Array {
  const [batch, heads, time, dim] = shape as [number, number, number, number];
  const half = dim / 2;
  const invFreq = inverseFrequencies(CONFIG, Math.max(...positions) + 1);
  const out = new Float32Array(x.length);
  const f = Math.fround;
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < heads; h++)
      for (let t = 0; t < time; t++)
        for (let i = 0; i < half; i++) {
          const angle = positions[b * time + t]! * invFreq[i]!;
          const c = f(Math.cos(angle));
          const s = f(Math.sin(angle));
          const at = ((b * heads + h) * time + t) * dim;
          const x1 = x[at + i]!;
          const x2 = x[at + half + i]!;
          out[at + i] = f(f(x1 * c) - f(x2 * s));
          out[at + half + i] = f(f(x2 * c) + f(x1 * s));
        }
  return out;
}

describe('applyRotary', () => {
  it('equals the half-split formula bit for bit, for every row position (left padding included)', () => {
    const shape: [number, number, number, number] = [2, 3, 5, CONFIG.headDim];
    const x = tf.randomNormal(shape, 0, 3, 'float32', 7) as tf.Tensor4D;
    const positions = Int32Array.from([0, 1, 2, 3, 4, 0, 0, 1, 2, 3]);
    const tables = rotaryTables(CONFIG, positions, 2, 5);
    const rotated = applyRotary(x, tables);
    expect(rotated.shape).toEqual(shape);
    expect(Array.from(rotated.dataSync())).toEqual(
      Array.from(reference(x.dataSync() as Float32Array, shape, positions)),
    );
    tf.dispose([x, tables.cos, tables.sin, rotated]);
  });

  it('has the gradient of the half-split formula', () => {
    const shape: [number, number, number, number] = [1, 2, 3, CONFIG.headDim];
    const x = tf.randomNormal(shape, 0, 1, 'float32', 8) as tf.Tensor4D;
    const weight = tf.randomNormal(shape, 0, 1, 'float32', 9);
    const tables = rotaryTables(CONFIG, Int32Array.from([3, 4, 5]), 1, 3);
    const half = CONFIG.headDim / 2;
    const cos = tf.slice(tables.cos, [0, 0, 0, 0], [-1, -1, -1, half]);
    const sin = tf.neg(tf.slice(tables.sin, [0, 0, 0, 0], [-1, -1, -1, half]));
    const halfSplit = (v: tf.Tensor4D) => {
      const [x1, x2] = tf.split(v, 2, 3);
      return tf.concat(
        [tf.sub(tf.mul(x1!, cos), tf.mul(x2!, sin)), tf.add(tf.mul(x2!, cos), tf.mul(x1!, sin))],
        3,
      );
    };
    const ours = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(applyRotary(v as tf.Tensor4D, tables), weight)))(x);
    const theirs = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(halfSplit(v as tf.Tensor4D), weight)))(x);
    const a = ours.dataSync();
    const b = theirs.dataSync();
    for (let i = 0; i < a.length; i++)
      expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(b[i]!)));
    tf.dispose([x, weight, tables.cos, tables.sin, cos, sin, ours, theirs]);
  });
});
