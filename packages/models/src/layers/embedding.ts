import { Module, ShapeMismatchError } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';

/** A token embedding table [vocab, hidden], frozen (adapters train around it, not in it). */
export class Embedding extends Module {
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  private readonly table: tf.Variable;

  /** `weight` is [vocab, hidden]; the module keeps its own copy. */
  constructor(weight: tf.Tensor2D) {
    super();
    [this.numEmbeddings, this.embeddingDim] = weight.shape;
    this.table = this.registerParameter('weight', tf.variable(weight, false));
  }

  get weight(): tf.Tensor2D {
    return this.table as tf.Tensor2D;
  }

  /** ids int32 [B, T] -> [B, T, hidden]. Ids are range-checked by the caller, which has them on the host. */
  forward(ids: tf.Tensor2D): tf.Tensor3D {
    if (ids.dtype !== 'int32')
      throw new ShapeMismatchError(`embedding expects int32 token ids, got ${ids.dtype}`);
    const [batch, time] = ids.shape;
    return tf.tidy(() =>
      tf.reshape(tf.gather(this.table, tf.reshape(ids, [-1])), [batch, time, this.embeddingDim]),
    );
  }
}
