import { applyToLastAxis, DenseLinear } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * The output head of a model with tied embeddings: a `DenseLinear` copy of the table (the forward
 * matmul's fast path wants [hidden, vocab]) whose input gradient dy·E multiplies by the embedding
 * table itself, [vocab, hidden], already in the layout the product needs. A plain `DenseLinear`
 * would transpose its copy back for every backward call: a transient tensor as large as the table
 * (545 MB for Qwen2.5-0.5B, 1.05 GB for Llama-3.2-1B) per loss chunk.
 */
export class TiedHeadLinear extends DenseLinear {
  private readonly table: tf.Tensor2D;

  /** `table` is the embedding's own variable [vocab, hidden]; the head reads it, never disposes it. */
  constructor(table: tf.Tensor2D) {
    super(table);
    this.table = table;
  }

  override forward(x: tf.Tensor): tf.Tensor {
    return applyToLastAxis(x, this.inFeatures, (x2d) => {
      const op = tf.customGrad((...args: unknown[]) => ({
        value: super.forward(args[0] as tf.Tensor2D) as tf.Tensor2D,
        gradFunc: (dy: tf.Tensor) => tf.matMul(dy as tf.Tensor2D, this.table),
      }));
      return op(x2d) as tf.Tensor2D;
    });
  }
}
