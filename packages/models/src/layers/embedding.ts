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
    // The table is frozen, so nothing needs the lookup's gradient. Run as tfjs' own gather, a training
    // step would save a copy of the whole table for one (wasm's Identity kernel copies): 1 GB for
    // Llama-3.2-1B. Inside a customGrad's forward nothing is recorded or saved.
    const lookup = tf.customGrad((...args: unknown[]) => {
      const flat = args[0] as tf.Tensor1D;
      return {
        value: tf.reshape(tf.gather(this.table, flat), [batch, time, this.embeddingDim]) as tf.Tensor3D,
        gradFunc: () => tf.zeros(flat.shape),
      };
    });
    return tf.tidy(() => lookup(tf.reshape(ids, [-1])) as tf.Tensor3D);
  }
}
