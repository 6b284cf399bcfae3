import { applyToLastAxis, fromFloat32, type QuantizedLinear, type StateDict } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * A dense linear whose weight is a trainable variable, for pretraining the demo base from scratch
 * (the library's own layers are frozen: adapters train around them). Stored [in, out] like
 * DenseLinear, the layout tfjs' fast matmul path wants.
 */
export class TrainableLinear implements QuantizedLinear {
  readonly specificationVersion = 'v1' as const;
  readonly scheme = 'dense';
  readonly bias = null;
  readonly weightT: tf.Variable;

  constructor(
    readonly outFeatures: number,
    readonly inFeatures: number,
    init: tf.Tensor2D,
  ) {
    this.weightT = tf.variable(tf.transpose(init), true);
  }

  get storageBytes(): number {
    return this.inFeatures * this.outFeatures * 4;
  }

  /**
   * x·Wᵀ with both gradients computed from explicit transposes: tfjs' own matMul gradient passes
   * transpose flags, which take tfjs-backend-wasm off its fast (XNNPACK) path.
   */
  forward(x: tf.Tensor): tf.Tensor {
    const matmul = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [x2d, w, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
      // Saved tensors outlive the forward's tidy scope; plain closures over them would not.
      save([x2d, w]);
      return {
        value: tf.matMul(x2d, w),
        gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
          const g = dy as tf.Tensor2D;
          const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
          return [tf.matMul(g, tf.transpose(ws)), tf.matMul(tf.transpose(xs), g)];
        },
      };
    });
    return applyToLastAxis(
      x,
      this.inFeatures,
      (x2d) => matmul(x2d, this.weightT as tf.Tensor2D) as tf.Tensor2D,
    );
  }

  dequantize(): tf.Tensor2D {
    return tf.transpose(this.weightT as tf.Tensor2D);
  }

  requantize(): QuantizedLinear {
    throw new Error('TrainableLinear is only used while pretraining');
  }

  stateDict(prefix: string): StateDict {
    const w = this.dequantize();
    const dict: StateDict = new Map([
      [`${prefix}weight`, fromFloat32(w.dataSync() as Float32Array, w.shape)],
    ]);
    w.dispose();
    return dict;
  }

  dispose(): void {
    this.weightT.dispose();
  }
}
