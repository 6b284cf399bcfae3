import * as tf from '@tensorflow/tfjs-core';
import { vectorJacobianProduct } from './recompute.js';

/**
 * A process-wide random stream that recomputation must replay, e.g. the stream adapter dropout
 * draws from (@peft/adapter-bridge's `adapterRandomState` / `restoreAdapterRandom`).
 */
export interface RandomStateHooks {
  /** The stream's position now. */
  get(): unknown;
  /** Puts the stream back at a position `get` returned. */
  set(state: unknown): void;
}

export interface CheckpointOptions {
  /** Trainable variables `fn` reads through its modules; they receive gradients. */
  variables?: readonly tf.Variable[];
  /** A random stream `fn` draws from, replayed so the recomputation sees the same draws. */
  randomState?: RandomStateHooks;
}

/**
 * `fn(x, 'forward')` whose intermediate activations are not kept for the backward pass: the forward
 * keeps only x, and the backward runs `fn(x, 'recompute')` to take its gradients with respect to x
 * and every variable in `options.variables` (a `tf.customGrad` only differentiates its explicit
 * inputs, so the variables are passed as inputs too). Any other tensor `fn` reads must be rebuilt by
 * it when called with 'recompute': the caller's tensors are gone by then, and saving them instead
 * would copy them (tfjs-backend-wasm's Identity kernel, which saving uses, copies the data).
 * `fn` must be a pure function of x and the variables' values (or replay its randomness).
 */
export function checkpointed<T extends tf.Tensor>(
  fn: (x: T, phase: 'forward' | 'recompute') => T,
  x: T,
  options: CheckpointOptions = {},
): T {
  const variables = options.variables ?? [];
  const random = options.randomState;
  const startState = random?.get();
  const run = tf.customGrad((...args: unknown[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const input = args[0] as T;
    // Saved tensors live until the whole backward pass ends.
    save([input]);
    return {
      value: fn(input, 'forward'),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const savedInput = saved[0] as T;
        const resume = random?.get();
        if (random) random.set(startState);
        try {
          return vectorJacobianProduct(() => fn(savedInput, 'recompute'), [savedInput, ...variables], dy);
        } finally {
          if (random) random.set(resume);
          // Its gradient exists now; free the copy at once instead of at the end of the backward pass.
          savedInput.dispose();
        }
      },
    };
  });
  return run(x, ...variables) as T;
}
