import { applyToLastAxis, DenseLinear, fromFloat32, type QuantizedLinear, type StateDict } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * The output head of a model with tied embeddings, reading the embedding table [vocab, hidden] itself:
 * no copy of its own. The forward pass computes the logits as (E·xᵀ)ᵀ, with the table as the left
 * operand, and the input gradient as dy·E, with the table as the right operand.
 *
 * Why this layout: tfjs-backend-wasm runs an unflagged matMul on XNNPACK, which packs a private copy of
 * the right operand and caches it for as long as that tensor lives. A DenseLinear head keeps a transposed
 * float32 copy of the table (x·Eᵀ on the fast path), so a tied model held the table four times: the
 * embedding, the transposed copy, and a packed copy of each. Here the table is the right operand only in
 * dy·E (one packed copy); in the forward pass the right operand is xᵀ, a few rows packed per call. For
 * Qwen2.5-0.5B (545 MB table) that is 1.09 GB less; for Llama-3.2-1B 2.1 GB.
 */
export class TiedHeadLinear implements QuantizedLinear {
  readonly specificationVersion = 'v1' as const;
  readonly scheme = 'dense';
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly bias = null;
  private readonly table: tf.Tensor2D;

  /** `table` is the embedding's own variable [vocab, hidden]; the head reads it, never disposes it. */
  constructor(table: tf.Tensor2D) {
    this.table = table;
    [this.outFeatures, this.inFeatures] = table.shape;
  }

  /** What the head would take saved as a float32 linear layer (it holds no bytes of its own). */
  get storageBytes(): number {
    return this.inFeatures * this.outFeatures * 4;
  }

  forward(x: tf.Tensor): tf.Tensor {
    return applyToLastAxis(x, this.inFeatures, (x2d) => {
      const op = tf.customGrad((...args: unknown[]) => {
        const input = args[0] as tf.Tensor2D;
        return {
          // E·xᵀ: the table is the left operand, which XNNPACK does not pack or cache.
          value: tf.tidy(() => tf.transpose(tf.matMul(this.table, tf.transpose(input)))) as tf.Tensor2D,
          gradFunc: (dy: tf.Tensor) => tf.matMul(dy as tf.Tensor2D, this.table),
        };
      });
      return op(x2d) as tf.Tensor2D;
    });
  }

  dequantize(): tf.Tensor2D {
    return tf.clone(this.table);
  }

  requantize(w: tf.Tensor2D): QuantizedLinear {
    return new DenseLinear(w);
  }

  stateDict(prefix: string): StateDict {
    const dict: StateDict = new Map();
    dict.set(`${prefix}weight`, fromFloat32(this.table.dataSync() as Float32Array, this.table.shape, 'F32'));
    return dict;
  }

  /** Nothing to free: the table is the embedding's. */
  dispose(): void {}
}
