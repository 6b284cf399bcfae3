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
  /**
   * Tensors `fn` reads besides x that must still exist in the backward pass (rotary tables,
   * attention masks): kept alive until then and handed to `fn` again. Not differentiated.
   */
  constants?: readonly tf.Tensor[];
  /** Trainable variables `fn` reads through its modules; they receive gradients. */
  variables?: readonly tf.Variable[];
  /** A random stream `fn` draws from, replayed so the recomputation sees the same draws. */
  randomState?: RandomStateHooks;
}

/**
 * `fn(x, constants)` whose intermediate activations are not kept for the backward pass: the forward
 * keeps only x and the constants, and the backward runs `fn` again to take its gradients with
 * respect to x and every variable in `options.variables` (a `tf.customGrad` only differentiates its
 * explicit inputs, so the variables are passed as inputs too). `fn` must be a pure function of x,
 * the constants and the variables' current values (or replay its randomness via `randomState`).
 */
export function checkpointed<T extends tf.Tensor>(
  fn: (x: T, constants: readonly tf.Tensor[]) => T,
  x: T,
  options: CheckpointOptions = {},
): T {
  const constants = options.constants ?? [];
  const variables = options.variables ?? [];
  const random = options.randomState;
  const startState = random?.get();
  const run = tf.customGrad((...args: unknown[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const input = args[0] as T;
    // Clones share data; tfjs keeps saved tensors until the whole backward pass ends.
    save([input, ...constants]);
    return {
      value: fn(input, constants),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedInput, ...savedConstants] = saved as [T, ...tf.Tensor[]];
        const resume = random?.get();
        if (random) random.set(startState);
        try {
          return vectorJacobianProduct(() => fn(savedInput, savedConstants), [savedInput, ...variables], dy);
        } finally {
          if (random) random.set(resume);
        }
      },
    };
  });
  return run(x, ...variables) as T;
}
