// TensorFlow.js for the layer tests: the backends of @peft/backends (which also registers every tfjs
// gradient and this project's kernels), switched per test file.
import { type BackendName, BNB4_EXACT_FLAG, setupBackend } from '@peft/backends';
import * as tf from '@tensorflow/tfjs-core';

export async function useBackend(name: BackendName): Promise<typeof tf> {
  await setupBackend(name);
  return tf;
}

/** Runs `fn` with the wasm 4-bit matmul forced to its exact float32 path. */
export async function withExactBnb4<T>(fn: () => Promise<T> | T): Promise<T> {
  const before = tf.env().getBool(BNB4_EXACT_FLAG);
  tf.env().set(BNB4_EXACT_FLAG, true);
  try {
    return await fn();
  } finally {
    tf.env().set(BNB4_EXACT_FLAG, before);
  }
}
