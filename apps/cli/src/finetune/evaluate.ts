// Held-out loss and perplexity of a (possibly adapted) model over a whole data set.
import { ConfigError } from '@peft/core';
import type { LlamaForCausalLM } from '@peft/models';
import { type Batch, makeBatch, sequentialBatches } from '@peft/training';
import * as tf from '@tensorflow/tfjs-core';

export interface EvalResult {
  /** Mean next-token cross-entropy (nats) over every predicted token of the set. */
  readonly loss: number;
  readonly perplexity: number;
  /** Tokens predicted (each example's tokens after its first). */
  readonly tokens: number;
  readonly examples: number;
}

export interface EvaluateOptions {
  batchSize: number;
  /** Examples are cut to this many tokens. */
  maxSeqLen: number;
  padTokenId: number;
}

/** tfjs tensors of a padded batch, in the layout `LlamaForCausalLM.forward` takes. */
export function batchTensors(batch: Batch): {
  inputIds: tf.Tensor2D;
  attentionMask: tf.Tensor2D;
  labels: tf.Tensor2D;
} {
  const shape: [number, number] = [batch.batchSize, batch.seqLen];
  return {
    inputIds: tf.tensor2d(batch.inputIds, shape, 'int32'),
    attentionMask: tf.tensor2d(batch.attentionMask, shape, 'int32'),
    labels: tf.tensor2d(batch.labels, shape, 'int32'),
  };
}

/**
 * The loss over the whole set: the sum of every token's loss divided by the number of predicted
 * tokens, not a mean of batch means (batches with more tokens weigh more). Runs in eval mode (no
 * dropout) and restores the model's mode afterwards.
 */
export function evaluateLoss(
  model: LlamaForCausalLM,
  sequences: readonly number[][],
  options: EvaluateOptions,
): EvalResult {
  const wasTraining = model.training;
  model.eval();
  let sum = 0;
  let tokens = 0;
  try {
    for (const rows of sequentialBatches([...sequences], options.batchSize)) {
      const batch = makeBatch(rows, options.padTokenId, options.maxSeqLen);
      if (batch.predictedTokens === 0) continue;
      // The model's loss is the mean over this batch's predicted tokens; times their count it is their sum.
      const mean = tf.tidy(() => model.loss(batchTensors(batch)).dataSync()[0]!);
      sum += mean * batch.predictedTokens;
      tokens += batch.predictedTokens;
    }
  } finally {
    model.train(wasTraining);
  }
  if (tokens === 0) {
    throw new ConfigError(
      'nothing to evaluate: every example has fewer than 2 tokens, so no token is predicted',
    );
  }
  const loss = sum / tokens;
  return { loss, perplexity: Math.exp(loss), tokens, examples: sequences.length };
}
