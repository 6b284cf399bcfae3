import { fromFloat32, isFloatDType, type QuantizedLinear, type StateDict } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * A base layer with a different bias: what a layer becomes when its bias was trained (PEFT's
 * `bias="all"` / `"<method>_only"`) and the adapter is unloaded. It goes through the contract only, so
 * any quantization scheme keeps its weight storage and key layout; the bias entry is rewritten in the
 * dtype the format used for it.
 */
export class BiasOverrideLinear implements QuantizedLinear {
  readonly specificationVersion = 'v1' as const;
  readonly bias: tf.Tensor1D;

  constructor(
    private readonly inner: QuantizedLinear,
    bias: tf.Tensor1D,
  ) {
    this.bias = tf.tidy(() => tf.cast(bias, 'float32').clone());
  }

  get scheme(): string {
    return this.inner.scheme;
  }
  get inFeatures(): number {
    return this.inner.inFeatures;
  }
  get outFeatures(): number {
    return this.inner.outFeatures;
  }
  get storageBytes(): number {
    return this.inner.storageBytes;
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const y = this.inner.forward(x);
      return this.inner.bias ? tf.add(tf.sub(y, this.inner.bias), this.bias) : tf.add(y, this.bias);
    });
  }

  dequantize(): tf.Tensor2D {
    return this.inner.dequantize();
  }

  requantize(w: tf.Tensor2D): QuantizedLinear {
    return new BiasOverrideLinear(this.inner.requantize(w), this.bias);
  }

  stateDict(prefix: string): StateDict {
    const dict = this.inner.stateDict(prefix);
    const key = `${prefix}bias`;
    const old = dict.get(key);
    const dtype = old && isFloatDType(old.dtype) ? old.dtype : 'F32';
    dict.set(key, fromFloat32(this.bias.dataSync() as Float32Array, this.bias.shape, dtype));
    return dict;
  }

  dispose(): void {
    this.inner.dispose();
    this.bias.dispose();
  }
}
