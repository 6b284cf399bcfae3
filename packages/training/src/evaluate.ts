// Held-out loss and perplexity of a model over a whole data set.
import { ConfigError } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { type Batch, makeBatch, sequentialBatches } from './batches.js';
import type { ExampleInput } from './jsonl.js';

export interface EvalResult {
  /** Mean next-token cross-entropy (nats) over every predicted token of the set. */
  readonly loss: number;
  readonly perplexity: number;
  /** Tokens predicted (each example's labelled tokens after its first). */
  readonly tokens: number;
  readonly examples: number;
}

export interface EvaluateOptions {
  batchSize: number;
  /** Examples are cut to this many tokens. */
  seqLen: number;
  padTokenId: number;
  /** Stops between batches (an `AbortError`). */
  signal?: AbortSignal;
  /** Called after each batch with the examples done so far. */
  onProgress?(done: number, total: number): void;
}

/** What evaluation needs from a model: its mean loss over a batch and a mode switch. */
export interface EvaluableModel {
  loss(batch: Batch): tf.Scalar;
  setTraining(on: boolean): void;
  readonly training: boolean;
}

/**
 * The loss over the whole set: the sum of every token's loss divided by the number of predicted tokens,
 * not a mean of batch means (batches with more tokens weigh more). Runs in evaluation mode (no dropout)
 * and restores the model's mode afterwards. Reads each batch's loss without blocking (WebGPU-safe).
 */
export async function evaluate(
  model: EvaluableModel,
  sequences: readonly ExampleInput[],
  options: EvaluateOptions,
): Promise<EvalResult> {
  const wasTraining = model.training;
  model.setTraining(false);
  let sum = 0;
  let tokens = 0;
  let done = 0;
  try {
    for (const rows of sequentialBatches([...sequences], options.batchSize)) {
      options.signal?.throwIfAborted();
      const batch = makeBatch(rows, options.padTokenId, options.seqLen);
      done += rows.length;
      if (batch.predictedTokens > 0) {
        const lossTensor = tf.tidy(() => model.loss(batch));
        const mean = (await lossTensor.data())[0]!;
        lossTensor.dispose();
        // The model's loss is the mean over this batch's predicted tokens; times their count it is their sum.
        sum += mean * batch.predictedTokens;
        tokens += batch.predictedTokens;
      }
      options.onProgress?.(done, sequences.length);
    }
  } finally {
    model.setTraining(wasTraining);
  }
  if (tokens === 0) {
    throw new ConfigError(
      'nothing to evaluate: no example has a labelled token after its first, so no token is predicted',
    );
  }
  const loss = sum / tokens;
  return { loss, perplexity: Math.exp(loss), tokens, examples: sequences.length };
}
