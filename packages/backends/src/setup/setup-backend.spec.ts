import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { BackendUnavailableError } from '../errors.js';
import { ALL_KERNEL_NAMES } from '../kernels/kernel-names.js';
import { setupBackend } from './setup-backend.js';

describe('setupBackend in Node', () => {
  it('auto picks wasm and says why webgpu was not taken', async () => {
    const { backend, reason } = await setupBackend();
    expect(backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(reason).toMatch(/wasm with SIMD/);
    expect(reason).toMatch(/webgpu: navigator\.gpu/);
  });

  it.each(['cpu', 'wasm'] as const)(
    'sets up %s with every kernel of this package and the tfjs gradients',
    async (name) => {
      const setup = await setupBackend(name);
      expect(setup).toEqual({ backend: name, reason: `requested "${name}"`, kernelThreads: 1 });
      for (const kernel of ALL_KERNEL_NAMES) expect(tf.getKernel(kernel, name), kernel).toBeDefined();
      const dx = tf.grad((x: tf.Tensor) => tf.sum(tf.square(x)))(tf.tensor1d([1, -2]));
      expect(Array.from(dx.dataSync())).toEqual([2, -4]);
      dx.dispose();
    },
  );

  it('refuses webgpu where there is no adapter, with a typed error that says why', async () => {
    const attempt = setupBackend('webgpu');
    await expect(attempt).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(setupBackend('webgpu')).rejects.toThrow(/backend "webgpu".*navigator\.gpu is absent/);
  });
});
