import * as tf from '@tensorflow/tfjs-core';
import type { DType } from './dtype.js';
import { ShapeMismatchError } from './errors.js';
import { matMulFrozenRight } from './fast-matmul.js';
import { frugalReshape } from './frugal-ops.js';
import { fromFloat32, type StateDict } from './host-tensor.js';
import type { QuantizedLinear } from './quantized-linear.js';

/** Applies `matmul` to the last axis of `x`, whatever its leading dimensions. */
export function applyToLastAxis(
  x: tf.Tensor,
  inFeatures: number,
  matmul: (x2d: tf.Tensor2D) => tf.Tensor2D,
): tf.Tensor {
  const lastDim = x.shape[x.shape.length - 1];
  if (lastDim !== inFeatures) {
    throw new ShapeMismatchError(
      `linear expects last dimension ${inFeatures}, got input shape ${JSON.stringify(x.shape)}`,
    );
  }
  return tf.tidy(() => {
    const lead = x.shape.slice(0, -1);
    // frugalReshape: a plain reshape would keep the layer's output (and input) alive for the backward pass.
    const y = matmul(frugalReshape<tf.Tensor2D>(x, [-1, inFeatures]));
    return frugalReshape(y, [...lead, y.shape[1]]);
  });
}

export interface DenseLinearOptions {
  /** dtype written by `stateDict` (the weights are held as float32 either way). */
  storageDType?: DType;
}

/**
 * Float weights behind the same contract as quantized ones, so methods see one kind of base layer.
 *
 * The weight is held transposed, [in, out]: TensorFlow.js wasm's `matMul` is several times faster
 * without a transpose flag (XNNPACK path), and that is the forward pass every benchmark compares to.
 */
export class DenseLinear implements QuantizedLinear {
  readonly specificationVersion = 'v1' as const;
  readonly scheme = 'dense';
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly bias: tf.Tensor1D | null;
  private readonly weightT: tf.Tensor2D;
  private readonly storageDType: DType;

  /** `weight` is [out, in] as in PyTorch; the layer keeps its own copies of weight and bias. */
  constructor(weight: tf.Tensor2D, bias: tf.Tensor1D | null = null, options: DenseLinearOptions = {}) {
    const [out, inF] = weight.shape;
    if (bias && bias.shape[0] !== out) {
      throw new ShapeMismatchError(
        `DenseLinear: bias has ${bias.shape[0]} entries for ${out} output features`,
      );
    }
    this.outFeatures = out;
    this.inFeatures = inF;
    this.weightT = tf.tidy(() => tf.transpose(tf.cast(weight, 'float32')));
    this.bias = bias ? tf.tidy(() => tf.cast(bias, 'float32').clone()) : null;
    this.storageDType = options.storageDType ?? 'F32';
  }

  /** A layer from a [out, in] row-major Float32Array. */
  static fromArray(
    weight: Float32Array,
    outFeatures: number,
    inFeatures: number,
    bias?: Float32Array,
  ): DenseLinear {
    const w = tf.tensor2d(weight, [outFeatures, inFeatures]);
    const b = bias ? tf.tensor1d(bias) : null;
    try {
      return new DenseLinear(w, b);
    } finally {
      tf.dispose([w, ...(b ? [b] : [])]);
    }
  }

  get storageBytes(): number {
    const bytes = this.storageDType === 'F16' || this.storageDType === 'BF16' ? 2 : 4;
    return this.inFeatures * this.outFeatures * bytes;
  }

  forward(x: tf.Tensor): tf.Tensor {
    return applyToLastAxis(x, this.inFeatures, (x2d) => {
      // Frozen weight: only dx is needed, and it is computed on the fast (untransposed) path.
      // The layer's own weight lives as long as the layer: no copy of it is saved for the backward pass.
      const y = matMulFrozenRight(x2d, this.weightT, { persistent: true });
      return this.bias ? (tf.add(y, this.bias) as tf.Tensor2D) : y;
    });
  }

  dequantize(): tf.Tensor2D {
    return tf.transpose(this.weightT);
  }

  requantize(w: tf.Tensor2D): DenseLinear {
    if (w.shape[0] !== this.outFeatures || w.shape[1] !== this.inFeatures) {
      throw new ShapeMismatchError(
        `DenseLinear.requantize: expected [${this.outFeatures}, ${this.inFeatures}], got ${JSON.stringify(w.shape)}`,
      );
    }
    return new DenseLinear(w, this.bias, { storageDType: this.storageDType });
  }

  stateDict(prefix: string): StateDict {
    const dict: StateDict = new Map();
    const w = this.dequantize();
    try {
      dict.set(`${prefix}weight`, fromFloat32(w.dataSync() as Float32Array, w.shape, this.storageDType));
    } finally {
      w.dispose();
    }
    if (this.bias) {
      dict.set(
        `${prefix}bias`,
        fromFloat32(this.bias.dataSync() as Float32Array, this.bias.shape, this.storageDType),
      );
    }
    return dict;
  }

  dispose(): void {
    this.weightT.dispose();
    this.bias?.dispose();
  }
}
