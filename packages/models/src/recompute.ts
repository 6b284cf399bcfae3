import { frugalGradients } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';

// The parts of tfjs' engine state a gradient call touches. `Engine.state` is public in tfjs-core's
// typings; only these two fields are read or written here.
interface TapeState {
  activeTape: unknown[] | null;
  gradientDepth: number;
}

function tapeState(): TapeState {
  return (tf.engine() as unknown as { state: TapeState }).state;
}

/**
 * The vector-Jacobian product dy·∂f/∂xs, where f is run again here (under its own gradient tape).
 * Safe to call from inside a `tf.customGrad` gradient function, i.e. while an outer backward pass is
 * running: tfjs keeps one global tape, and a top-level gradient call replaces it with a new one and
 * clears it when done, which would drop the outer pass's tape (its saved tensors would leak and the
 * outer pass would fail on the cleared tape). The outer tape is put back afterwards. The recorded
 * tape of `f` is freed as soon as its gradients are taken, so recomputation costs the memory of one
 * call of `f`, not of all of them at once.
 *
 * Returns one gradient per x (zeros where f does not depend on that x). `dy` has f's shape.
 */
export function vectorJacobianProduct(
  f: () => tf.Tensor,
  xs: readonly tf.Tensor[],
  dy: tf.Tensor,
): tf.Tensor[] {
  const state = tapeState();
  const outerTape = state.activeTape;
  const nested = state.gradientDepth > 0;
  try {
    return tf.tidy(() => {
      const { value, grads } = frugalGradients(f, xs, dy);
      value.dispose();
      return grads.map((g, i) => g ?? tf.zerosLike(xs[i]!));
    });
  } finally {
    // Under an enclosing tape (higher-order gradients) tfjs appended to it rather than replacing it.
    if (!nested) state.activeTape = outerTape;
  }
}
