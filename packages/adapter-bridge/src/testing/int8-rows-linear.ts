import {
  applyToLastAxis,
  fromFloat32,
  fromIntegers,
  type QuantizedLinear,
  ShapeMismatchError,
  type StateDict,
} from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * A deliberately simple quantized base layer for tests of methods that must not depend on a real
 * quantizer: int8 codes with one absmax scale per output row, stored FLAT ([out * in], like packed
 * 4-bit storage), so a method that sized anything from storage instead of the logical shape breaks.
 * Lossy like any quantizer, so merge round trips are approximate. Not a supported format.
 */
export class Int8RowsLinear implements QuantizedLinear {
  readonly specificationVersion = 'v1' as const;
  readonly scheme = 'test-int8-rows';
  readonly bias: tf.Tensor1D | null;
  private readonly codes: tf.Tensor1D;
  private readonly scales: tf.Tensor1D;

  private constructor(
    readonly outFeatures: number,
    readonly inFeatures: number,
    codes: Int8Array,
    scales: Float32Array,
    bias: tf.Tensor1D | null,
  ) {
    this.codes = tf.tensor1d(Int32Array.from(codes), 'int32');
    this.scales = tf.tensor1d(scales);
    this.bias = bias ? tf.tidy(() => bias.clone()) : null;
  }

  /** Quantizes a row-major [out, in] weight. */
  static quantize(
    weight: Float32Array,
    outFeatures: number,
    inFeatures: number,
    bias: tf.Tensor1D | null = null,
  ) {
    if (weight.length !== outFeatures * inFeatures) {
      throw new ShapeMismatchError(
        `Int8RowsLinear: ${weight.length} values for [${outFeatures}, ${inFeatures}]`,
      );
    }
    const codes = new Int8Array(weight.length);
    const scales = new Float32Array(outFeatures);
    for (let o = 0; o < outFeatures; o++) {
      let absmax = 0;
      for (let i = 0; i < inFeatures; i++) absmax = Math.max(absmax, Math.abs(weight[o * inFeatures + i]!));
      const scale = absmax === 0 ? 1 : absmax / 127;
      scales[o] = scale;
      for (let i = 0; i < inFeatures; i++)
        codes[o * inFeatures + i] = Math.round(weight[o * inFeatures + i]! / scale);
    }
    return new Int8RowsLinear(outFeatures, inFeatures, codes, scales, bias);
  }

  get storageBytes(): number {
    return this.outFeatures * this.inFeatures + this.outFeatures * 4;
  }

  dequantize(): tf.Tensor2D {
    return tf.tidy(() =>
      tf.mul(
        tf.reshape(tf.cast(this.codes, 'float32'), [this.outFeatures, this.inFeatures]),
        tf.reshape(this.scales, [this.outFeatures, 1]),
      ),
    );
  }

  forward(x: tf.Tensor): tf.Tensor {
    return applyToLastAxis(x, this.inFeatures, (x2d) => {
      const w = this.dequantize();
      const y: tf.Tensor2D = tf.matMul(x2d, w, false, true);
      return this.bias ? tf.add(y, this.bias) : y;
    });
  }

  requantize(w: tf.Tensor2D): Int8RowsLinear {
    if (w.shape[0] !== this.outFeatures || w.shape[1] !== this.inFeatures) {
      throw new ShapeMismatchError(
        `Int8RowsLinear.requantize: expected [${this.outFeatures}, ${this.inFeatures}], got ${JSON.stringify(w.shape)}`,
      );
    }
    return Int8RowsLinear.quantize(
      w.dataSync() as Float32Array,
      this.outFeatures,
      this.inFeatures,
      this.bias,
    );
  }

  stateDict(prefix: string): StateDict {
    const dict: StateDict = new Map();
    dict.set(
      `${prefix}weight`,
      fromIntegers(this.codes.dataSync(), [this.outFeatures * this.inFeatures], 'I8'),
    );
    dict.set(
      `${prefix}weight_scale`,
      fromFloat32(this.scales.dataSync() as Float32Array, [this.outFeatures]),
    );
    if (this.bias)
      dict.set(`${prefix}bias`, fromFloat32(this.bias.dataSync() as Float32Array, this.bias.shape));
    return dict;
  }

  dispose(): void {
    tf.dispose([this.codes, this.scales]);
    this.bias?.dispose();
  }
}
