import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { BackendOptionError } from '../errors.js';
import { kernelThreadStats } from '../kernels/wasm-threads/active-threads.js';
import { kernelThreadLimit, resolveKernelThreads } from './kernel-thread-limit.js';
import { setupBackend } from './setup-backend.js';

describe('the kernelThreads option is bounded by the machine', () => {
  afterAll(() => setupBackend('wasm', { kernelThreads: 1 }));

  it('allows 1 .. max(4, cores) and "auto", and resolves absent to 1', () => {
    expect(kernelThreadLimit(2)).toBe(4);
    expect(kernelThreadLimit(16)).toBe(16);
    expect(resolveKernelThreads(undefined, 2)).toBe(1);
    expect(resolveKernelThreads('auto', 6)).toBe(6);
    expect(resolveKernelThreads('auto', 6, 1)).toBe(1);
    expect(resolveKernelThreads(4, 2)).toBe(4);
    expect(resolveKernelThreads(16, 16)).toBe(16);
  });

  it.each([0, -1, 2.5, Number.NaN, Number.POSITIVE_INFINITY, 17, 1000, '3', null])(
    'refuses %s on a 16-core machine with a typed error naming the option and the range',
    (asked) => {
      let error: unknown;
      try {
        resolveKernelThreads(asked, 16);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(BackendOptionError);
      expect((error as BackendOptionError).code).toBe('BACKEND_OPTION_INVALID');
      expect((error as BackendOptionError).option).toBe('kernelThreads');
      expect((error as Error).message).toMatch(/"kernelThreads".*from 1 to 16 .*16 cores/);
    },
  );

  it('setupBackend refuses kernelThreads: 1000 before it starts a backend or a worker', async () => {
    await setupBackend('cpu');
    const before = kernelThreadStats().threads;
    const limit = kernelThreadLimit(availableParallelism());
    const attempt = setupBackend('wasm', { kernelThreads: 1000 });
    await expect(attempt).rejects.toBeInstanceOf(BackendOptionError);
    await expect(setupBackend('wasm', { kernelThreads: limit + 1 })).rejects.toThrow(
      new RegExp(`kernelThreads.*${limit + 1} is not allowed: use a whole number from 1 to ${limit}`),
    );
    expect(tf.getBackend()).toBe('cpu');
    expect(kernelThreadStats().threads).toBe(before);
  });
});
