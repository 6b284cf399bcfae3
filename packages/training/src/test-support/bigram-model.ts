// A bigram language model (one [vocab, vocab] table of logits) as a `TrainableModel`: small enough to train
// in milliseconds on the cpu backend, with a seeded dropout stream so resume has random state to restore.
import * as tf from '@tensorflow/tfjs-core';
import type { Batch } from '../batches.js';
import type { TrainableModel } from '../trainable.js';

export interface BigramModel extends TrainableModel {
  readonly table: tf.Variable;
  dispose(): void;
}

export function bigramModel(vocab: number, options: { dropout?: number; seed?: number } = {}): BigramModel {
  const table = tf.variable(tf.zeros([vocab, vocab]), true, `bigram_${Math.random().toString(36).slice(2)}`);
  let training = false;
  let draws = 0;
  const seed = options.seed ?? 0;
  return {
    table,
    loss(batch: Batch): tf.Scalar {
      return tf.tidy(() => {
        const rows = batch.batchSize;
        const len = batch.seqLen;
        const inputs: number[] = [];
        const targets: number[] = [];
        for (let b = 0; b < rows; b++) {
          for (let t = 0; t + 1 < len; t++) {
            const target = batch.labels[b * len + t + 1]!;
            if (target < 0) continue;
            inputs.push(batch.inputIds[b * len + t]!);
            targets.push(target);
          }
        }
        let logits: tf.Tensor = tf.gather(table, tf.tensor1d(inputs, 'int32'));
        if (training && options.dropout)
          logits = tf.dropout(logits, options.dropout, undefined, seed * 1000 + draws++);
        const labels = tf.oneHot(tf.tensor1d(targets, 'int32'), vocab);
        return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
      });
    },
    trainableVariables: () => new Map([['table', table]]),
    setTraining(on: boolean) {
      training = on;
    },
    get training() {
      return training;
    },
    async saveFiles() {
      return new Map([['table.bin', new Uint8Array((await table.data()).slice().buffer)]]);
    },
    randomState: () => ({ draws }),
    restoreRandomState(state: unknown) {
      draws = (state as { draws: number }).draws;
    },
    dispose() {
      table.dispose();
    },
  };
}

/** Sequences over a small vocabulary with a learnable pattern: each token is followed by (token + 1) mod vocab. */
export function countingSequences(vocab: number, count: number, length: number): number[][] {
  return Array.from({ length: count }, (_, i) =>
    Array.from({ length: length - (i % 3) }, (_, t) => (i + t) % vocab),
  );
}
