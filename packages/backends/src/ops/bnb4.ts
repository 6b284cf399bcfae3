import { ShapeMismatchError } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { wasmTransposedFixed16 } from '../kernels/bnb4-matmul-transposed/wasm.js';
import { Bnb4Dequantize, Bnb4Matmul, Bnb4MatmulTransposed } from '../kernels/kernel-names.js';
import { type Bnb4Weights, bnb4KernelAttrs, bnb4KernelInputs, validateBnb4Weights } from './bnb4-weights.js';
import { ensureKernels } from './ensure-kernels.js';

/**
 * From this many rows on, when the wasm kernel cannot take its fixed-point path (the exact flag is set, or
 * inFeatures % 64 != 0, or blocksize < 64), the wasm backend computes dy·W as a per-call dequantization into a
 * temporary dense [N, K] tensor (disposed before returning) followed by TensorFlow.js' XNNPACK matMul, which is
 * faster than the exact fused kernel once the dequantization is spread over enough rows. The fixed-point kernel
 * is faster than both at every size. Otherwise the fused kernel never builds W.
 */
export const WASM_DENSE_TRANSPOSED_MIN_ROWS = 32;

function asFloat2d(t: tf.Tensor, op: string, name: string, columns: number, what: string): tf.Tensor2D {
  if (t.rank !== 2 || t.shape[1] !== columns) {
    throw new ShapeMismatchError(
      `${op}: ${name} has shape ${JSON.stringify(t.shape)}, expected [rows, ${columns}] (${what})`,
    );
  }
  return (t.dtype === 'float32' ? t : tf.cast(t, 'float32')) as tf.Tensor2D;
}

function run(kernel: string, inputs: tf.NamedTensorMap, w: Bnb4Weights): tf.Tensor2D {
  return tf
    .engine()
    .runKernel(kernel, inputs, bnb4KernelAttrs(w) as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}

/** W as float32 [outFeatures, inFeatures], exactly f32(code[q] * A_b) per element. The caller disposes it. */
export function bnb4Dequantize(w: Bnb4Weights): tf.Tensor2D {
  validateBnb4Weights(w, 'bnb4Dequantize');
  ensureKernels('bnb4Dequantize');
  return run(Bnb4Dequantize, bnb4KernelInputs(w), w);
}

/** x [M, inFeatures] -> x·Wᵀ [M, outFeatures], reading the packed weight directly. No gradient (see bnb4Linear). */
export function bnb4Matmul(x: tf.Tensor2D, w: Bnb4Weights): tf.Tensor2D {
  validateBnb4Weights(w, 'bnb4Matmul');
  ensureKernels('bnb4Matmul');
  return tf.tidy(() => {
    const x2d = asFloat2d(x, 'bnb4Matmul', 'x', w.inFeatures, 'inFeatures of the weight');
    return run(Bnb4Matmul, { x: x2d, ...bnb4KernelInputs(w) }, w);
  });
}

/** dy [M, outFeatures] -> dy·W [M, inFeatures]: the input gradient of x·Wᵀ. */
export function bnb4MatmulTransposed(dy: tf.Tensor2D, w: Bnb4Weights): tf.Tensor2D {
  validateBnb4Weights(w, 'bnb4MatmulTransposed');
  const backend = ensureKernels('bnb4MatmulTransposed');
  return tf.tidy(() => {
    const dy2d = asFloat2d(dy, 'bnb4MatmulTransposed', 'dy', w.outFeatures, 'outFeatures of the weight');
    if (
      backend === 'wasm' &&
      dy2d.shape[0] >= WASM_DENSE_TRANSPOSED_MIN_ROWS &&
      !wasmTransposedFixed16(tf.backend(), w)
    ) {
      return tf.matMul(dy2d, run(Bnb4Dequantize, bnb4KernelInputs(w), w));
    }
    return run(Bnb4MatmulTransposed, { dy: dy2d, ...bnb4KernelInputs(w) }, w);
  });
}

/**
 * x·Wᵀ, differentiable with respect to x: the gradient is bnb4MatmulTransposed(dy, w). W is frozen (no gradient),
 * as for every quantized base weight.
 */
export function bnb4Linear(x: tf.Tensor2D, w: Bnb4Weights): tf.Tensor2D {
  const linear = tf.customGrad((input: tf.Tensor | tf.GradSaveFunc) => ({
    value: bnb4Matmul(input as tf.Tensor2D, w),
    gradFunc: (dy: tf.Tensor2D) => bnb4MatmulTransposed(dy, w),
  }));
  return linear(x) as tf.Tensor2D;
}
