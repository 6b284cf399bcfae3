import * as tf from '@tensorflow/tfjs-core';

/**
 * Why these exist: TensorFlow.js' own matMul gradient multiplies with transpose flags
 * (dy·Bᵀ and Aᵀ·dy), and tfjs-backend-wasm runs any flagged matMul in a scalar loop, about 10x
 * slower than its XNNPACK path (measured: [448, 256]·[128, 256]ᵀ 13.8 ms flagged vs 1.3 ms with an
 * explicit transpose). Transposing explicitly and multiplying without flags keeps training on the fast
 * path on every backend. Both helpers accept batched operands (rank >= 2, tf.matMul broadcasting). Where the
 * registered kernel carries TAKES_TRANSPOSED_RIGHT (@peft/backends on wasm), 2-D dy·bᵀ is one flagged product.
 */

function swapLastTwo(t: tf.Tensor): tf.Tensor {
  const perm = t.shape.map((_, i) => i);
  const n = perm.length;
  [perm[n - 2], perm[n - 1]] = [perm[n - 1]!, perm[n - 2]!];
  return tf.transpose(t, perm);
}

/**
 * Marks a BatchMatMul kernel function that multiplies a 2-D left operand by a 2-D right operand under a transpose
 * flag (a·bᵀ) as fast as without one, reading b in place. @peft/backends' wasm kernel carries it; TensorFlow.js'
 * own wasm kernel, which runs any flagged product in a scalar loop, does not.
 */
export const TAKES_TRANSPOSED_RIGHT = Symbol.for('@peft/core:takesTransposedRight');

/**
 * Whether dy·bᵀ runs best as one flagged product (no transposed copy of b, which for a frozen float32 weight is
 * the weight's whole size on every backward pass) rather than a transpose and an unflagged product.
 */
function transposeFlagIsFree(dy: tf.Tensor, b: tf.Tensor): boolean {
  return dy.rank === 2 && b.rank === 2 && transposedRightIsFree();
}

/**
 * Whether the active backend's BatchMatMul carries TAKES_TRANSPOSED_RIGHT: a 2-D a·bᵀ is then one flagged product
 * that reads b in place, as fast as an unflagged one.
 */
export function transposedRightIsFree(): boolean {
  const kernel = tf.getKernel(tf.BatchMatMul, tf.getBackend());
  const marked = kernel?.kernelFunc as unknown as Record<symbol, unknown> | undefined;
  return marked?.[TAKES_TRANSPOSED_RIGHT] === true;
}

/** dy·bᵀ, flagged where that is free, else through an explicit transpose of b. */
function timesTransposed(dy: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return transposeFlagIsFree(dy, b) ? tf.matMul(dy, b, false, true) : tf.matMul(dy, swapLastTwo(b));
}

/**
 * aᵀ·dy for a [.., M, K] and dy [.., M, N], transposing whichever is less: a, or dy and the [K, N] result as
 * (dyᵀ·a)ᵀ. Attention's value gradient Pᵀ·dy has P [rows, keys] and dy [rows, head size]: transposing P moved
 * 8 MB per head at TinyLlama's 512 tokens (24 ms on wasm, 3% of a training step), dy and the result 1.1 MB.
 */
function timesLeftTransposed(a: tf.Tensor, dy: tf.Tensor): tf.Tensor {
  const resultSize = (a.shape[a.rank - 1]! * dy.size) / dy.shape[dy.rank - 2]!;
  return dy.size + resultSize < a.size
    ? swapLastTwo(tf.matMul(swapLastTwo(dy), a))
    : tf.matMul(swapLastTwo(a), dy);
}

/** Sums a broadcast gradient back to the operand's shape (batched matMul broadcasts leading dims). */
function reduceTo(grad: tf.Tensor, shape: readonly number[]): tf.Tensor {
  if (grad.shape.length === shape.length && grad.shape.every((d, i) => d === shape[i])) return grad;
  const lead = grad.shape.length - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < grad.shape.length; i++) {
    const own = i - lead;
    if (own < 0 || (shape[own] === 1 && grad.shape[i] !== 1)) axes.push(i);
  }
  return tf.reshape(tf.sum(grad, axes), [...shape]);
}

export interface FrozenRightOptions {
  /**
   * `b` outlives the backward pass (a layer's own weight, not a temporary of the caller's tidy scope). It is
   * then read from the closure instead of being saved: saving clones, which on wasm copies the whole
   * weight every call.
   */
  readonly persistent?: boolean;
  /**
   * bᵀ, kept by the caller as long as `b` (implies `persistent`): the backward pass multiplies dy by it
   * instead of transposing `b` on every call. A frozen right operand never changes, so its transpose can be
   * made once; per call it is a full copy of `b` each training step.
   */
  readonly transposed?: tf.Tensor;
}

/**
 * `a·b` where only `a` needs a gradient (`b` is frozen: a base weight or a fixed projection):
 * da = dy·bᵀ, and no work is spent on a gradient for `b`.
 */
export function matMulFrozenRight<T extends tf.Tensor>(
  a: T,
  b: tf.Tensor,
  options: FrozenRightOptions = {},
): T {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
    // `b` may be a temporary of the caller's tidy scope (e.g. a slice); saving keeps it for backward.
    const { transposed } = options;
    const persistent = options.persistent || transposed !== undefined;
    if (!persistent) save([b]);
    return {
      value: tf.matMul(x, b),
      // A customGrad's gradient runs outside any per-node scope of the backward pass: without this tidy
      // the transposed copy of `b` (and, on wasm, the XNNPACK operator packed from it) would live until
      // the whole backward pass ends, one per layer: for float32 weights, two extra copies of the model.
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) =>
        tf.tidy(() =>
          reduceTo(
            transposed
              ? tf.matMul(dy as tf.Tensor, transposed)
              : timesTransposed(dy as tf.Tensor, persistent ? b : saved[0]!),
            a.shape,
          ),
        ),
    };
  });
  return op(a) as T;
}

/**
 * `a·b` with gradients for both operands: da = dy·bᵀ (flagged where TAKES_TRANSPOSED_RIGHT says that is free),
 * db = aᵀ·dy through explicit transposes (timesLeftTransposed).
 */
export function matMulBoth<T extends tf.Tensor>(a: tf.Tensor, b: tf.Tensor): T {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, y, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    // Saved tensors outlive the caller's tidy scope; a closure over x and y would not.
    save([x, y]);
    return {
      value: tf.matMul(x, y),
      // Tidy: the transposed operands are freed at once, not at the end of the backward pass.
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [xs, ys] = saved as [tf.Tensor, tf.Tensor];
          const g = dy as tf.Tensor;
          return [reduceTo(timesTransposed(g, ys), xs.shape), reduceTo(timesLeftTransposed(xs, g), ys.shape)];
        }),
    };
  });
  return op(a, b) as T;
}
