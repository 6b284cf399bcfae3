import {
  applyToLastAxis,
  fromFloat32,
  type HostTensor,
  hostTensor,
  type QuantizedLinear,
  type StateDict,
  toFloat32,
} from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * A stand-in quantized layer for loader tests: per-row absmax int8 codes, held as an int32 tensor,
 * and float32 row scales. Built from host data, so creating one makes no dense float tensor of the
 * weight (its forward dequantizes, which loading never calls).
 */
export class Int8TestLinear implements QuantizedLinear {
  readonly specificationVersion = 'v1' as const;
  readonly scheme = 'int8-test';
  readonly bias: tf.Tensor1D | null;
  private readonly codes: tf.Tensor1D;
  private readonly scales: tf.Tensor1D;

  constructor(
    readonly outFeatures: number,
    readonly inFeatures: number,
    codes: Int8Array,
    scales: Float32Array,
    bias: Float32Array | null,
  ) {
    this.codes = tf.tensor1d(Int32Array.from(codes), 'int32');
    this.scales = tf.tensor1d(scales);
    this.bias = bias ? tf.tensor1d(bias) : null;
  }

  /** Quantizes a host weight [out, in] row by row. */
  static fromHost(weight: HostTensor, bias: HostTensor | null): Int8TestLinear {
    const [out, inF] = weight.shape as [number, number];
    const values = toFloat32(weight);
    const codes = new Int8Array(values.length);
    const scales = new Float32Array(out);
    for (let r = 0; r < out; r++) {
      let absmax = 0;
      for (let c = 0; c < inF; c++) absmax = Math.max(absmax, Math.abs(values[r * inF + c]!));
      scales[r] = absmax / 127;
      for (let c = 0; c < inF; c++) {
        codes[r * inF + c] = absmax === 0 ? 0 : Math.round((values[r * inF + c]! / absmax) * 127);
      }
    }
    return new Int8TestLinear(out, inF, codes, scales, bias ? toFloat32(bias) : null);
  }

  /** The checkpoint entries a format reads back: I8 codes and an F32 `weight.int8_scale`. */
  static stateDictOf(weight: HostTensor, bias: HostTensor | null, prefix: string): StateDict {
    const layer = Int8TestLinear.fromHost(weight, bias);
    try {
      return layer.stateDict(prefix);
    } finally {
      layer.dispose();
    }
  }

  get storageBytes(): number {
    return this.outFeatures * this.inFeatures + this.outFeatures * 4;
  }

  forward(x: tf.Tensor): tf.Tensor {
    return applyToLastAxis(x, this.inFeatures, (x2d) =>
      tf.tidy((): tf.Tensor2D => {
        const y = tf.matMul(x2d, this.dequantize(), false, true) as tf.Tensor2D;
        return this.bias ? (tf.add(y, this.bias) as tf.Tensor2D) : y;
      }),
    );
  }

  dequantize(): tf.Tensor2D {
    return tf.tidy(() =>
      tf.mul(
        tf.reshape(tf.cast(this.codes, 'float32'), [this.outFeatures, this.inFeatures]),
        tf.reshape(this.scales, [this.outFeatures, 1]),
      ),
    );
  }

  requantize(): QuantizedLinear {
    throw new Error('not needed in tests');
  }

  stateDict(prefix: string): StateDict {
    const codes = Int8Array.from(this.codes.dataSync());
    const dict: StateDict = new Map();
    dict.set(
      `${prefix}weight`,
      hostTensor('I8', [this.outFeatures, this.inFeatures], new Uint8Array(codes.buffer)),
    );
    dict.set(
      `${prefix}weight.int8_scale`,
      fromFloat32(this.scales.dataSync() as Float32Array, [this.outFeatures]),
    );
    if (this.bias)
      dict.set(`${prefix}bias`, fromFloat32(this.bias.dataSync() as Float32Array, [this.outFeatures]));
    return dict;
  }

  dispose(): void {
    tf.dispose([this.codes, this.scales, ...(this.bias ? [this.bias] : [])]);
  }
}
