// What the training loop needs from a model: a loss, the variables to train, a mode switch, and its
// files for checkpoints. Anything with a loss trains; nothing here knows about Llama or quantizers.
import type * as tf from '@tensorflow/tfjs-core';
import type { Batch } from './batches.js';

export interface TrainableModel {
  /**
   * The mean loss over the batch's predicted tokens (`batch.predictedTokens` of them). Called inside
   * `tf.variableGrads`: build it from the variables, synchronously.
   */
  loss(batch: Batch): tf.Scalar;
  /** The variables the optimizer updates, by stable name (names key the optimizer state in checkpoints). */
  trainableVariables(): ReadonlyMap<string, tf.Variable>;
  /** Training mode (dropout on) or evaluation mode. */
  setTraining(on: boolean): void;
  readonly training: boolean;
  /** The files that restore what was trained (e.g. a PEFT adapter folder), for checkpoints and the result. */
  saveFiles(): Promise<ReadonlyMap<string, Uint8Array>>;
  /**
   * Where the model's own random stream stands (dropout masks), saved with a checkpoint and restored on
   * resume; a model without one returns null.
   */
  randomState(): unknown;
  restoreRandomState(state: unknown): void;
  /**
   * Runs `fn` (a training step: its forward and backward passes happen synchronously inside) with the
   * model's random stream in place, so dropout masks, and their replay when layers are recomputed in the
   * backward pass, come from the model's own stream. Optional: without it `fn` runs as is.
   */
  inRandomStream?<T>(fn: () => T): T;
}
