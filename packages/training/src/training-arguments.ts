// A run's settings, their defaults and their checks, in one place for the library, the CLI and the web app.
import { ConfigError } from '@peft/core';
import type { ScheduleKind } from './schedule.js';

/** Optimisation settings; all of them are part of a run's fingerprint. */
export interface OptimisationOptions {
  /** Optimizer steps in the whole run (a resumed run counts the steps already done). */
  steps: number;
  /** Peak learning rate. */
  learningRate: number;
  /** Sequences per micro-batch (one forward and backward pass). */
  batchSize: number;
  /**
   * Micro-batches whose gradients are summed into each optimizer step (default 1): a step sees
   * `batchSize * gradAccumSteps` sequences, with the memory of `batchSize`. Optional so that arguments
   * written before it existed stay valid.
   */
  gradAccumSteps?: number;
  /** Examples are cut to this many tokens. */
  seqLen: number;
  /** Seeds the data order, the adapter's random init and its dropout masks. */
  seed: number;
  schedule: ScheduleKind;
  warmupSteps: number;
  weightDecay: number;
  /** Clip the global gradient norm to this (0: no clipping). */
  maxGradNorm: number;
}

/** How often to evaluate and save; these do not change the result, so a resumed run may change them. */
export interface ReportingOptions {
  /** Evaluate on the eval data every N steps (0: only at the end). */
  evalEvery: number;
  /** Write a checkpoint every N steps (0: only at the end). */
  saveEvery: number;
  /** How many of the newest checkpoints to keep (0: all). */
  keepCheckpoints: number;
}

export type TrainingArguments = OptimisationOptions & ReportingOptions;

export const DEFAULT_REPORTING: Readonly<ReportingOptions> = {
  evalEvery: 0,
  saveEvery: 100,
  keepCheckpoints: 2,
};

/** The defaults of every optimisation setting but the sequence length, which depends on the model. */
export function defaultOptimisation(learningRate: number): Omit<OptimisationOptions, 'seqLen'> {
  return {
    steps: 100,
    learningRate,
    batchSize: 8,
    seed: 0,
    schedule: 'cosine',
    warmupSteps: 0,
    weightDecay: 0,
    maxGradNorm: 1,
  };
}

function checkInt(value: number, name: string, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new ConfigError(`${name} must be an integer >= ${min}, got ${value}`);
  }
}

const SCHEDULES: readonly ScheduleKind[] = ['constant', 'linear', 'cosine'];

/**
 * Fills unset settings with the defaults (`defaultLearningRate` from the method, sequence length
 * min(512, `maxPositions`)) and checks every value, naming the setting in the error.
 */
export function resolveTrainingArguments(
  given: Partial<TrainingArguments>,
  defaults: { learningRate: number; maxPositions: number },
): TrainingArguments {
  const base = defaultOptimisation(defaults.learningRate);
  const resolved: TrainingArguments = {
    steps: given.steps ?? base.steps,
    learningRate: given.learningRate ?? base.learningRate,
    batchSize: given.batchSize ?? base.batchSize,
    gradAccumSteps: given.gradAccumSteps ?? 1,
    seqLen: given.seqLen ?? Math.min(512, defaults.maxPositions),
    seed: given.seed ?? base.seed,
    schedule: given.schedule ?? base.schedule,
    warmupSteps: given.warmupSteps ?? base.warmupSteps,
    weightDecay: given.weightDecay ?? base.weightDecay,
    maxGradNorm: given.maxGradNorm ?? base.maxGradNorm,
    evalEvery: given.evalEvery ?? DEFAULT_REPORTING.evalEvery,
    saveEvery: given.saveEvery ?? DEFAULT_REPORTING.saveEvery,
    keepCheckpoints: given.keepCheckpoints ?? DEFAULT_REPORTING.keepCheckpoints,
  };
  checkInt(resolved.steps, 'steps', 1);
  checkInt(resolved.batchSize, 'batch size', 1);
  checkInt(resolved.gradAccumSteps!, 'grad-accum-steps', 1);
  checkInt(resolved.seqLen, 'sequence length', 2);
  checkInt(resolved.seed, 'seed', 0);
  checkInt(resolved.warmupSteps, 'warmup steps', 0);
  checkInt(resolved.evalEvery, 'eval-every', 0);
  checkInt(resolved.saveEvery, 'save-every', 0);
  checkInt(resolved.keepCheckpoints, 'keep-checkpoints', 0);
  if (resolved.seqLen > defaults.maxPositions) {
    throw new ConfigError(
      `sequence length ${resolved.seqLen} exceeds the model's max_position_embeddings (${defaults.maxPositions})`,
    );
  }
  if (!(resolved.learningRate > 0) || !Number.isFinite(resolved.learningRate)) {
    throw new ConfigError(`learning rate must be a positive number, got ${resolved.learningRate}`);
  }
  if (!SCHEDULES.includes(resolved.schedule)) {
    throw new ConfigError(`schedule must be one of ${SCHEDULES.join(', ')}, got ${resolved.schedule}`);
  }
  if (!(resolved.weightDecay >= 0) || !Number.isFinite(resolved.weightDecay)) {
    throw new ConfigError(`weight decay must be a number >= 0, got ${resolved.weightDecay}`);
  }
  if (!(resolved.maxGradNorm >= 0) || !Number.isFinite(resolved.maxGradNorm)) {
    throw new ConfigError(`max grad norm must be a number >= 0, got ${resolved.maxGradNorm}`);
  }
  return resolved;
}

/** The settings that determine the result (the fingerprinted part of `TrainingArguments`). */
export function optimisationPart(args: TrainingArguments): OptimisationOptions {
  const { evalEvery: _e, saveEvery: _s, keepCheckpoints: _k, ...optimisation } = args;
  return optimisation;
}
