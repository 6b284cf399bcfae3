import { resolveTrainingArguments, type TrainingArguments } from '@peft/training';
import type { RunOptions } from '../options.js';

/** At most 20 warm-up steps, as the Node demo (`peft demo`); a shorter run warms up over all its steps. */
export const MAX_WARMUP_STEPS = 20;

/**
 * The page's settings as the training run's arguments: AdamW with linear warm-up, cosine decay and the
 * gradient norm clipped at 1, no weight decay, rows cut to min(the form's sequence length, the model's positions). The page keeps
 * no checkpoints and evaluates only before and after, so `saveEvery` and `evalEvery` are 0.
 */
export function runArguments(options: RunOptions, maxPositions: number): TrainingArguments {
  return resolveTrainingArguments(
    {
      steps: options.steps,
      batchSize: options.batchSize,
      learningRate: options.learningRate,
      seed: options.seed,
      seqLen: Math.min(options.seqLen, maxPositions),
      schedule: 'cosine',
      warmupSteps: Math.min(MAX_WARMUP_STEPS, options.steps),
      weightDecay: 0,
      maxGradNorm: 1,
      evalEvery: 0,
      saveEvery: 0,
      keepCheckpoints: 0,
    },
    { learningRate: options.learningRate, maxPositions },
  );
}
