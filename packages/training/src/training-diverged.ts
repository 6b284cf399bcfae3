import { PeftError } from '@peft/core';

/** What went non-finite in a step. */
export type Divergence = 'loss' | 'gradient norm' | 'update';

export interface DivergenceDetails {
  /** The step that diverged (1-based: the first step is 1). */
  readonly step: number;
  readonly what: Divergence;
  /** The non-finite value (NaN, Infinity); for an update, NaN. */
  readonly value: number;
  /** The learning rate of the step. */
  readonly learningRate: number;
  /** The schedule's peak (what `--lr` sets), which the advice lowers. */
  readonly peakLearningRate: number;
}

/**
 * A step produced a non-finite loss, gradient or update. The loss and the gradient norm are checked
 * before the optimizer runs, so the trained variables and the optimizer moments stay those of the step
 * before; the run stops and writes nothing, so its newest checkpoint is the last good one. The message
 * names that checkpoint once the run attaches it (`withCheckpoint`).
 */
export class TrainingDivergedError extends PeftError {
  readonly step: number;
  readonly what: Divergence;
  readonly value: number;
  readonly learningRate: number;
  readonly peakLearningRate: number;
  /** The newest checkpoint written before the divergence, or null. */
  readonly checkpoint: string | null;

  constructor(details: DivergenceDetails, checkpoint: string | null = null) {
    const { step, what, value, learningRate, peakLearningRate } = details;
    const kept =
      what === 'update'
        ? 'the run stopped before saving anything'
        : 'the update was not applied and nothing was saved';
    const advice = checkpoint
      ? `${checkpoint} is the last good checkpoint: train its adapter further with a lower learning rate ` +
        `(peft finetune --adapter ${checkpoint} --lr ${lower(peakLearningRate)}), or start over with one`
      : `No checkpoint was written before it: start again with a lower learning rate (e.g. --lr ${lower(peakLearningRate)})`;
    super(
      'TRAINING_DIVERGED',
      `training diverged at step ${step}: the ${what} is ${what === 'update' ? 'not finite' : value} ` +
        `at learning rate ${Number(learningRate.toPrecision(4))} (peak ${peakLearningRate}); ${kept}. ${advice}, or clip gradients with a smaller max_grad_norm.`,
    );
    this.step = step;
    this.what = what;
    this.value = value;
    this.learningRate = learningRate;
    this.peakLearningRate = peakLearningRate;
    this.checkpoint = checkpoint;
  }

  /** The same error naming the checkpoint to continue from. */
  withCheckpoint(checkpoint: string | null): TrainingDivergedError {
    const error = new TrainingDivergedError(this, checkpoint);
    error.stack = this.stack;
    return error;
  }
}

/** A tenth of `learningRate`, written short (2e-4, not 0.00019999999999999998). */
function lower(learningRate: number): string {
  return Number((learningRate / 10).toPrecision(2)).toString();
}

/** Whether `error` is a `TrainingDivergedError` (by code: an application may hold two copies of this package). */
export function isTrainingDiverged(error: unknown): error is TrainingDivergedError {
  const candidate = error as Partial<TrainingDivergedError> | null;
  return candidate?.code === 'TRAINING_DIVERGED' && typeof candidate.withCheckpoint === 'function';
}
