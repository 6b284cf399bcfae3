import * as tf from '@tensorflow/tfjs-core';
import { Identity } from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../test-support/backends.js';
import { isReplacedWasmKernel } from './replace.js';

/** Bytes of the wasm heap in use by tensors: the backend's malloc'd buffers, counted once each. */
function wasmBuffers(): number {
  return tf.memory().numDataBuffers;
}

describe('Identity on wasm shares the buffer instead of copying it', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });

  it('is the kernel registered after setup', () => {
    expect(isReplacedWasmKernel(Identity)).toBe(true);
  });

  it('a clone reads the same values, survives its source, and adds no buffer', () => {
    const x = tf.tensor2d([1, 2, 3, 4.5, -6, 7], [2, 3]);
    const buffers = wasmBuffers();
    const copy = tf.clone(x);
    expect(wasmBuffers()).toBe(buffers);
    x.dispose();
    expect(copy.shape).toEqual([2, 3]);
    expect([...copy.dataSync()]).toEqual([1, 2, 3, 4.5, -6, 7]);
    copy.dispose();
    expect(wasmBuffers()).toBe(buffers - 1);
  });

  it('int32 and bool tensors too', () => {
    for (const x of [tf.tensor1d([3, -1, 7], 'int32'), tf.tensor1d([1, 0, 1], 'bool')]) {
      const copy = tf.clone(x);
      x.dispose();
      expect(copy.dtype).toBe(x.dtype);
      expect([...copy.dataSync()]).toEqual(x.dtype === 'bool' ? [1, 0, 1] : [3, -1, 7]);
      copy.dispose();
    }
  });

  it('saving for the backward pass holds no second copy of an activation, and gradients are unchanged', () => {
    const x = tf.randomNormal([64, 64], 0, 1, 'float32', 1);
    const f = (t: tf.Tensor) => tf.sum(tf.mul(tf.exp(t), tf.sin(t)));
    const before = wasmBuffers();
    let buffersInForward = 0;
    const grad = tf.grad((t: tf.Tensor) => {
      const y = f(t);
      buffersInForward = wasmBuffers() - before;
      return y;
    })(x);
    // exp, sin, mul and sum make 4 buffers; each saved input or output shares one of them (or x's).
    expect(buffersInForward).toBe(4);
    const expected = tf.tidy(() => tf.mul(tf.exp(x), tf.add(tf.sin(x), tf.cos(x))));
    const got = grad.dataSync();
    const want = expected.dataSync();
    for (let i = 0; i < want.length; i++)
      expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-5 * (1 + Math.abs(want[i]!)));
    tf.dispose([x, grad, expected]);
  });
});
